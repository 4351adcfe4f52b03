/** Aligned text tables and number formats: the benchmarks' only output. */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. Default 'left'. */
  readonly align?: 'left' | 'right';
}

export function printTable(columns: readonly Column[], rows: readonly (readonly string[])[]): void {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    '| ' +
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(' | ') +
    ' |';
  console.log(line(columns.map((c) => c.header)));
  console.log('|' + columns.map((c, i) => (c.align === 'right' ? '-'.repeat((widths[i] ?? 0) + 1) + ':' : '-'.repeat((widths[i] ?? 0) + 2))).join('|') + '|');
  for (const row of rows) console.log(line(row));
}

/** `12,345` */
export const count = (value: number): string => Math.round(value).toLocaleString('en-US');

/** `0.93×` */
export const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');

/** `123.4 MB` (10^6 bytes) */
export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** `12.3` */
export const fixed = (value: number, digits = 1): string => value.toFixed(digits);

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
