import { describe, expect, it } from 'vitest';
import { type HeartbeatRow, judgeStaleness } from '../../src/request/sync/staleness.js';

const T0 = Date.parse('2026-12-02T18:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const row = (over: Partial<HeartbeatRow>): HeartbeatRow => ({
  id: 1,
  generation: null,
  created_at: null,
  key_id: null,
  streams: null,
  seen_at: null,
  watching_since: at(0),
  missing: null,
  stale: 0,
  ...over,
});

// An export interval of 60 s: stale past 180 s.
describe('staleness, judged from the newest heartbeat and the time', () => {
  it('no heartbeat yet: not stale for the first 3 intervals of looking, stale after', () => {
    expect(judgeStaleness(undefined, 60, T0 + 999_000)).toMatchObject({
      stale: false,
      heartbeat_status: 'no heartbeat yet',
    });
    expect(judgeStaleness(row({}), 60, T0 + 180_000)).toMatchObject({ stale: false, heartbeat: null });
    expect(judgeStaleness(row({}), 60, T0 + 181_000)).toMatchObject({ stale: true, heartbeat_status: 'stale' });
  });

  it('stale once the newest heartbeat is over 3 intervals old', () => {
    const hb = row({ generation: '20261202T180000Z-00000000', created_at: at(0), streams: '{}' });
    expect(judgeStaleness(hb, 60, T0 + 180_000)).toMatchObject({
      stale: false,
      heartbeat_status: 'ok',
      heartbeat: { age_s: 180, created_at: at(0) },
    });
    const late = judgeStaleness(hb, 60, T0 + 181_000);
    expect(late.stale).toBe(true);
    expect(late.stale_reasons).toEqual([expect.stringMatching(/written 181 s ago/)]);
    // A Response clock ahead of this one gives no negative age.
    expect(judgeStaleness(hb, 60, T0 - 5_000).heartbeat?.age_s).toBe(0);
  });

  it('stale when a batch it names has been missing for over one interval', () => {
    const missing = JSON.stringify({ users: { seq: 12, since: at(100), present: 10 } });
    const hb = row({ generation: '20261202T180000Z-00000000', created_at: at(100), streams: '{}', missing });
    expect(judgeStaleness(hb, 60, T0 + 160_000).stale).toBe(false);
    const judged = judgeStaleness(hb, 60, T0 + 161_000);
    expect(judged.stale_reasons).toEqual([
      expect.stringMatching(/names users batch 12, not in the exchange folder for 61 s \(newest here: 10\)/),
    ]);
  });
});
