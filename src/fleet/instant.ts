// An instant as a query gives it (`?since=`): an RFC 3339 date-time (§5.6, with `Z` or an
// offset) or milliseconds since the epoch, for the clients that count in those.

// RFC 3339 §5.6 date-time (the `T` and `Z` in either case, as §5.6 allows).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const EPOCH_MS = /^\d{1,15}$/;

/** Milliseconds since the epoch, or undefined when `text` is neither form. */
export function parseInstant(text: string): number | undefined {
  if (EPOCH_MS.test(text)) return Number(text);
  if (!RFC3339.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
