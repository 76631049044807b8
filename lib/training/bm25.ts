/**
 * Okapi BM25 over a catalogue's texts: the lexical baseline a user knows
 * (Elasticsearch's and Lucene's default similarity), so fine-tuned retrieval
 * can be compared with "just search the words".
 *
 * score(q, d) = Σ_{t ∈ q} idf(t) · f(t, d) · (k1 + 1) / (f(t, d) + k1 · (1 − b + b · |d| / avgdl))
 * idf(t) = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))   (Lucene's, never negative)
 *
 * f(t, d): occurrences of t in d; |d|: d's length in tokens; avgdl: the mean
 * length; N: documents; n(t): documents holding t. A query term counts once
 * per occurrence in the query (as Lucene's per-clause sum). Tokens: lowercased
 * runs of letters and digits (Unicode), accents stripped.
 */

export interface Bm25Options {
  /** Term-frequency saturation. Default 1.2 (Lucene). */
  readonly k1?: number;
  /** Length normalisation in [0, 1]. Default 0.75 (Lucene). */
  readonly b?: number;
}

/** Lowercased letter/digit runs, accents stripped: "Café-Bar 2" -> ["cafe", "bar", "2"]. */
export function bm25Tokens(text: string): string[] {
  return text.toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, "").match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class Bm25Index {
  readonly ids: readonly string[];
  readonly k1: number;
  readonly b: number;
  readonly #postings = new Map<string, { doc: number; tf: number }[]>();
  readonly #lengths: Float64Array;
  readonly #avgdl: number;

  /** Indexes `documents` (id -> text); scores come back in its order. */
  constructor(documents: ReadonlyMap<string, string>, options: Bm25Options = {}) {
    this.k1 = options.k1 ?? 1.2;
    this.b = options.b ?? 0.75;
    if (!(Number.isFinite(this.k1) && this.k1 >= 0)) throw new RangeError(`Bm25Index: k1 must be a finite number >= 0 but received ${String(options.k1)}`);
    if (!(this.b >= 0 && this.b <= 1)) throw new RangeError(`Bm25Index: b must be in [0, 1] but received ${String(options.b)}`);
    if (documents.size === 0) throw new RangeError("Bm25Index: no documents to index");
    this.ids = [...documents.keys()];
    this.#lengths = new Float64Array(this.ids.length);
    let total = 0;
    [...documents.values()].forEach((text, doc) => {
      const counts = new Map<string, number>();
      const tokens = bm25Tokens(text);
      for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const [t, tf] of counts) {
        const list = this.#postings.get(t);
        if (list) list.push({ doc, tf });
        else this.#postings.set(t, [{ doc, tf }]);
      }
      this.#lengths[doc] = tokens.length;
      total += tokens.length;
    });
    this.#avgdl = total / this.ids.length || 1;
  }

  /** idf of a (tokenised) term; 0 for a term no document holds (it adds nothing to any score either way). */
  idf(term: string): number {
    const n = this.#postings.get(term)?.length ?? 0;
    if (n === 0) return 0;
    return Math.log(1 + (this.ids.length - n + 0.5) / (n + 0.5));
  }

  /** BM25 score of every document for `query`, in `ids` order. */
  scores(query: string): Float64Array {
    const out = new Float64Array(this.ids.length);
    for (const term of bm25Tokens(query)) {
      const postings = this.#postings.get(term);
      if (!postings) continue;
      const idf = this.idf(term);
      for (const { doc, tf } of postings) {
        const norm = this.k1 * (1 - this.b + (this.b * (this.#lengths[doc] as number)) / this.#avgdl);
        out[doc] = (out[doc] as number) + (idf * tf * (this.k1 + 1)) / (tf + norm);
      }
    }
    return out;
  }
}
