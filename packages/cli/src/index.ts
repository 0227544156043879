export { createProgram, main } from './main.ts';
