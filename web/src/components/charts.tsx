import { num, timeOfDay } from '../lib/i18n.js';

/*
 * Small SVG charts drawn with attributes and CSS classes only (the CSP allows no style attribute). The
 * time axis runs left to right in both languages, as clocks and charts do in Persian too.
 */
const W = 600;
const H = 200;
const PAD = { left: 44, right: 8, top: 10, bottom: 24 };

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return Math.ceil(max / p) * p;
}

function Axes({ max, first, last }: { max: number; first?: string | undefined; last?: string | undefined }) {
  const bottom = H - PAD.bottom;
  return (
    <g class="axes">
      <line x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={bottom} />
      <line x1={PAD.left} y1={bottom} x2={W - PAD.right} y2={bottom} />
      <text x={PAD.left - 4} y={PAD.top + 8} text-anchor="end">
        {num(max)}
      </text>
      <text x={PAD.left - 4} y={bottom} text-anchor="end">
        {num(0)}
      </text>
      {first ? (
        <text x={PAD.left} y={H - 6} text-anchor="start">
          {timeOfDay(new Date(first))}
        </text>
      ) : null}
      {last ? (
        <text x={W - PAD.right} y={H - 6} text-anchor="end">
          {timeOfDay(new Date(last))}
        </text>
      ) : null}
    </g>
  );
}

/** One bar per minute. */
export function BarChart({ label, points }: { label: string; points: { minute: string; value: number }[] }) {
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = points.length ? plotW / points.length : plotW;
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} direction="ltr">
      <Axes max={max} first={points[0]?.minute} last={points[points.length - 1]?.minute} />
      {points.map((p, i) => {
        const h = (p.value / max) * plotH;
        return (
          <rect
            key={p.minute}
            class="bar"
            x={PAD.left + i * step + 1}
            y={PAD.top + plotH - h}
            width={Math.max(1, step - 2)}
            height={h}
          >
            <title>{`${timeOfDay(new Date(p.minute))}: ${num(p.value)}`}</title>
          </rect>
        );
      })}
    </svg>
  );
}

/** One line per series (a dot per sample, so a lone sample shows) over the time window `from`-`to` (ms). */
export function LineChart({
  label,
  series,
  from,
  to,
}: {
  label: string;
  series: { name: string; points: { at: number; value: number }[] }[];
  from: number;
  to: number;
}) {
  const all = series.flatMap((s) => s.points);
  const max = niceMax(Math.max(0, ...all.map((p) => p.value)));
  const t0 = from;
  const t1 = to;
  const span = t1 > t0 ? t1 - t0 : 1;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (at: number) => PAD.left + ((at - t0) / span) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  return (
    <figure class="chart-figure">
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} direction="ltr">
        <Axes max={max} first={new Date(t0).toISOString()} last={new Date(t1).toISOString()} />
        {series.map((s, i) => (
          <g key={s.name} class={`line line-${i % 6}`}>
            <polyline
              fill="none"
              points={s.points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ')}
            />
            {s.points.map((p) => (
              <circle key={p.at} cx={x(p.at).toFixed(1)} cy={y(p.value).toFixed(1)} r="3">
                <title>{`${s.name} ${timeOfDay(new Date(p.at))}: ${num(p.value, 1)}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <figcaption class="legend">
        {series.map((s, i) => (
          <span key={s.name} class={`key key-${i % 6}`}>
            <bdi translate={false}>{s.name}</bdi>
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
