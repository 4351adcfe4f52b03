/** Samples this process's memory at a fixed interval and keeps the peaks. */
export class MemorySampler {
  peakRss = 0;
  peakHeapUsed = 0;
  peakExternal = 0;
  samples = 0;
  private timer: NodeJS.Timeout | undefined;

  start(intervalMs = 50): void {
    this.sample();
    this.timer = setInterval(() => {
      this.sample();
    }, intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    const m = process.memoryUsage();
    this.samples += 1;
    this.peakRss = Math.max(this.peakRss, m.rss);
    this.peakHeapUsed = Math.max(this.peakHeapUsed, m.heapUsed);
    this.peakExternal = Math.max(this.peakExternal, m.external);
  }
}
