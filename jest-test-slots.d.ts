// Types of jest-test-slots.js (plain JavaScript: jest loads its reporters untransformed).
export declare const DEFAULT_SLOTS_DIR: string;
export declare function slotCount(value: string | undefined): number | undefined;
export declare function acquireTestSlot(options: {
  dir: string;
  slots: number;
  priority?: number;
  pid?: number;
  alive?: (pid: number) => boolean;
  pollMs?: number;
}): Promise<() => void>;
export default class TestSlotReporter {
  constructor(globalConfig: unknown, options?: { priority?: number });
  onRunStart(): Promise<void>;
  onRunComplete(): void;
}
