/** The default port of the console (the local cloud's endpoint is 4566). */
export const DEFAULT_CONSOLE_PORT = 4580;
