/**
 * The base of the models whose forwardQuery calls are micro-batched
 * (TextEncoderModel, TextToImageClipModel, TorchScriptEmbeddingsModel): it
 * holds the model's QueryBatcher and gives the micro-batching accessors once.
 * The subclass builds the batcher (its runner: how a query is prepared and
 * run) and hands it to this constructor.
 */
import { EmbeddingsModelInterface } from "../interface";
import type { Tensor } from "../tensor";
import { resolveMicroBatching, type MicroBatching, type MicroBatchingSettings, type MicroBatchStats, type QueryBatcher } from "./query-batcher";

/** What the model uses of its QueryBatcher, whatever the batcher prepares. */
type Batcher = Pick<QueryBatcher<unknown>, "settings" | "stats" | "submit" | "close">;

export abstract class QueryBatchingModel extends EmbeddingsModelInterface {
  /** Concurrent forwardQuery calls share forwards (query-batcher.ts). */
  readonly #batcher: Batcher;

  protected constructor(batcher: Batcher) {
    super();
    this.#batcher = batcher;
  }

  /** How concurrent forwardQuery calls share forwards (on by default: lib/models/query-batcher.ts). */
  get microBatching(): MicroBatchingSettings {
    return this.#batcher.settings;
  }

  /**
   * Turns micro-batching on (`true`, or bounds) or off (`false`: one forward
   * per forwardQuery call); queries already queued still go together.
   * @throws TypeError / RangeError for a bad value.
   */
  setMicroBatching(value: MicroBatching): void {
    this.#batcher.settings = resolveMicroBatching(value, `${this.constructor.name}.setMicroBatching`);
  }

  /** What forwardQuery ran: forwards, queries, the largest batch, queries waiting now. */
  get microBatchStats(): MicroBatchStats {
    return this.#batcher.stats;
  }

  /** forwardQuery's row for a checked query, [1, dim]: it waits for a running fit and shares a forward with concurrent calls. */
  protected submitQuery(query: string): Promise<Tensor> {
    return this.#batcher.submit(query);
  }

  /** Rejects queued queries with a DisposedError and refuses new ones (dispose). */
  protected closeQueries(): void {
    this.#batcher.close();
  }
}
