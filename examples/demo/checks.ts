/** What each scene promises, checked against what it measured. A failed check fails the demo. */
export class Checks {
  private readonly results: { readonly ok: boolean; readonly claim: string }[] = [];

  check(ok: boolean, claim: string): void {
    this.results.push({ ok, claim });
  }

  get failed(): number {
    return this.results.filter((r) => !r.ok).length;
  }

  print(): void {
    console.log('');
    for (const { ok, claim } of this.results) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${claim}`);
  }
}
