/** Prints small aligned text tables: the demo's only output format. */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. Default 'left'. */
  readonly align?: 'left' | 'right';
}

export function printTable(columns: readonly Column[], rows: readonly (readonly string[])[]): void {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    '  ' +
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return column.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('   ')
      .trimEnd();
  console.log(line(columns.map((c) => c.header)));
  console.log('  ' + widths.map((w) => '-'.repeat(w)).join('   '));
  for (const row of rows) console.log(line(row));
}

export function printScene(number: number, title: string, idea: string): void {
  console.log('');
  console.log(`== ${String(number)}. ${title} ==`);
  console.log(`   ${idea}`);
  console.log('');
}

/** `12.3` — milliseconds with one decimal. */
export const ms = (value: number): string => value.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** `10,000` */
export const count = (value: number): string => value.toLocaleString('en-US');
