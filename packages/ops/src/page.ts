/** One page of a list, and the cursor of the next (`null` on the last page). */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}
