import { within } from './timing.js';

/** What a benchmark creates and must remove, whatever happens: RabbitMQ entities, Kafka topics and groups. */
export interface Scratchpad {
  readonly prefix: string;
  cleanUp(): Promise<void>;
}

/**
 * Runs one benchmark script: a time budget, clean-up of everything `scratch` tracked on success, failure,
 * budget overrun or a signal, then exit (0 only when `main` succeeded).
 */
export async function runScript<S extends Scratchpad>(bench: string, budgetMs: number, scratch: S, cleanUpMs: number, main: (scratch: S) => Promise<void>): Promise<never> {
  let finishing: Promise<never> | undefined;
  const finish = (code: number): Promise<never> => {
    finishing ??= (async () => {
      let exitCode = code;
      try {
        await within(cleanUpMs, 'clean-up', scratch.cleanUp());
      } catch (error) {
        console.error(`clean-up failed, what was created under ${scratch.prefix} may remain:`, error);
        exitCode ||= 1;
      }
      process.exit(exitCode);
    })();
    return finishing;
  };
  const watchdog = setTimeout(() => {
    console.error(`${bench}: over its time budget of ${String(budgetMs)} ms, stopping`);
    void finish(3);
  }, budgetMs);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${bench}: ${signal}, cleaning up`);
      void finish(130);
    });
  }
  process.on('unhandledRejection', (error) => {
    console.error(`${bench}: unhandled rejection`, error);
    void finish(1);
  });
  try {
    await main(scratch);
  } catch (error) {
    console.error(`${bench} failed:`, error);
    return finish(1);
  }
  return finish(0);
}
