/**
 * Interleaved rounds (`BENCH_ROUNDS`): every case runs once per round, and a target is judged on the median of the
 * rounds' ratios, each ratio comparing two cases of one round. One run of a case spreads by ±15 % on these machines.
 */
import { intEnv } from './env.js';
import { count, median, printTable, ratio } from './format.js';

export const ROUNDS = intEnv('BENCH_ROUNDS', 1);

/** Picks one case's result out of a round. */
export type Pick<R> = (round: readonly R[]) => R | undefined;

/** Runs `round` ROUNDS times, printing each round's results with `report`; every round's results. */
export async function inRounds<R>(round: (index: number) => Promise<R[]>, report: (results: readonly R[]) => void): Promise<R[][]> {
  const rounds: R[][] = [];
  for (let index = 1; index <= ROUNDS; index++) {
    const results = await round(index);
    rounds.push(results);
    console.log('');
    if (ROUNDS > 1) console.log(`  round ${String(index)} of ${String(ROUNDS)}:`);
    report(results);
  }
  return rounds;
}

/** `label` for a case of round `index`: unchanged with one round, else suffixed, so every round has its own entities. */
export function roundTag(label: string, index: number): string {
  return ROUNDS > 1 ? `${label}-r${String(index)}` : label;
}

/** With more than one round: each case's rate per round and the median. */
export function printRoundRates<R>(rounds: ReadonlyArray<readonly R[]>, cases: ReadonlyArray<{ readonly label: string; readonly pick: Pick<R> }>, rate: (r: R) => number): void {
  if (rounds.length < 2) return;
  console.log('');
  printTable(
    [{ header: 'case' }, ...rounds.map((_, i) => ({ header: `round ${String(i + 1)} msgs/s`, align: 'right' as const })), { header: 'median', align: 'right' }],
    cases.map(({ label, pick }) => {
      const rates = rounds.map((round) => pick(round)).map((r) => (r ? rate(r) : Number.NaN));
      return [label, ...rates.map((v) => count(v)), count(median(rates))];
    }),
  );
}

/** What a median ratio line says: `<label>: <median> of <of>`, and the target it is judged against, if any. */
export interface RatioLine {
  readonly label: string;
  readonly of: string;
  readonly target?: number;
}

/**
 * Prints the median over the rounds of `sdk`'s rate divided by `base`'s in the same round, with every round's ratio,
 * and, given a target, whether the median meets it. Prints nothing when no round had both cases.
 */
export function printMedianRatio<R>(rounds: ReadonlyArray<readonly R[]>, sdk: Pick<R>, base: Pick<R>, rate: (r: R) => number, line: RatioLine): void {
  const ratios = rounds.flatMap((round) => {
    const a = sdk(round);
    const b = base(round);
    return a && b ? [rate(a) / rate(b)] : [];
  });
  if (ratios.length === 0) return;
  const value = median(ratios);
  const each = ratios.length > 1 ? ` (rounds: ${ratios.map((v) => ratio(v)).join(', ')}; median)` : '';
  const { label, of, target } = line;
  const verdict = target === undefined ? '' : `; target ≥ ${ratio(target)}: ${value >= target ? 'met' : 'NOT met'}`;
  console.log(`  ${label}: ${ratio(value)} of ${of}${each}${verdict}`);
}
