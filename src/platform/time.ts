/** The current time as stored and shown: ISO-8601 UTC text, which sorts and compares the same in both dialects. */
export const nowIso = (): string => new Date().toISOString();

/** A millisecond timestamp (BullMQ's) as ISO-8601 UTC text; null for none. */
export const isoFromMs = (ms: number | undefined | null): string | null => (ms ? new Date(ms).toISOString() : null);
