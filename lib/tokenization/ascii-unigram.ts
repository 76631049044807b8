/**
 * The ids `@huggingface/tokenizers` gives a printable-ASCII text under a
 * SentencePiece Unigram tokenizer with the Metaspace pre-tokenizer (XLM-R,
 * multilingual E5), computed over a trie of the vocabulary's ASCII pieces
 * in flat arrays: the same ids, a fraction of the work. The library builds
 * a lattice of node objects, cloning them through its Viterbi pass, and
 * runs a generator per position: ~40 µs for a short query even when its
 * code is hot.
 *
 * On printable ASCII (U+0020-U+007E) the components reduce to:
 * - The normalizer: as ascii-text.ts `asciiNormalizer` applies it (XLM-R's
 *   Nmt or Precompiled, NFKC, runs of spaces to one); printable ASCII out.
 * - Metaspace, as the library implements it: every space replaced by the
 *   replacement character, which is prepended unless the text starts with
 *   it or `prepend_scheme` is "never" (the text is the first section, since
 *   it holds no added token); the text stays one piece (the library does not
 *   split it at the replacement).
 * - Unigram: at each position, a node for every vocabulary piece that
 *   starts there, and a node of the unknown token (scored the lowest score
 *   minus 10) for the character when no one-character piece matches; each
 *   node takes the best path ending where it starts (the first of equal
 *   scores, candidates in the order the library inserts them: earlier
 *   starts first), and the best path to the end wins. A piece's score is
 *   that of the id the model's map gives it; the unknown token's is the
 *   lowered one.
 * - Unknown pieces (the unknown token's nodes, or a piece the model maps to
 *   the unknown token's id) that follow each other are fused into one, as
 *   the library's model always does.
 * - Piece to id: an added token's id first, then the vocabulary's, then the
 *   unknown token's.
 *
 * A text is left to the library (null) when it holds any other character or
 * an added token's text, and a tokenizer whose configuration has anything
 * else gets no fast path at all. test/unit/tokenization.test.ts checks the
 * ids against the library's on thousands of generated texts.
 */
import type { Tokenizer } from "@huggingface/tokenizers";
import { asciiAddedTokens, asciiNormalizer, takenText, type ContentIds } from "./ascii-text";
import { isJsonObject, type JsonObject } from "./read-json-file";

/** Codes of trie edges: printable ASCII as itself, the replacement character as 0x7F (which text never holds). */
const REPLACEMENT_CODE = 0x7f;

/** The fast path of `tokenizer` (built from `tokenizerJson` and `config`), or null when its components are not exactly those. */
export function asciiUnigram(tokenizerJson: JsonObject, config: JsonObject, tokenizer: Tokenizer): ContentIds | null {
  const { normalizer, pre_tokenizer: preTokenizer, model } = tokenizerJson;
  const normalize = asciiNormalizer(normalizer);
  if (normalize === null || !isJsonObject(preTokenizer) || preTokenizer["type"] !== "Metaspace") return null;
  if (!isJsonObject(model) || model["type"] !== "Unigram" || model["byte_fallback"] === true) return null;
  if (config["remove_space"] === true || config["do_lowercase_and_remove_accent"] === true) return null;
  // Metaspace as the library reads it: `str_rep` (old files) over `replacement`, one character here.
  const replacement = preTokenizer["replacement"] ?? "\u2581";
  const strRep = (typeof preTokenizer["str_rep"] === "string" && preTokenizer["str_rep"] !== "" ? preTokenizer["str_rep"] : replacement);
  const scheme = preTokenizer["prepend_scheme"] ?? "always";
  if (typeof replacement !== "string" || replacement.length !== 1 || strRep !== replacement) return null;
  if (scheme !== "always" && scheme !== "first" && scheme !== "never") return null;
  const mark: string = replacement;
  const vocab = model["vocab"];
  const unkId = model["unk_id"];
  if (!Array.isArray(vocab) || vocab.length === 0 || !Number.isSafeInteger(unkId) || (unkId as number) < 0 || (unkId as number) >= vocab.length) return null;

  // Scores as the model keeps them: the lowest (the first of equals) minus 10 for the unknown token.
  const scores: number[] = [];
  for (const entry of vocab as unknown[]) {
    if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "number") return null;
    scores.push(entry[1]);
  }
  let minScore = scores[0] as number;
  for (const score of scores) if (score < minScore) minScore = score;
  const unkScore = minScore - 10;
  scores[unkId as number] = unkScore;

  const addedTokens = asciiAddedTokens(tokenizer, normalize);
  if (addedTokens === null) return null;
  const added = addedTokens;
  const unknownId = unkId as number;

  // The trie of pieces made of printable ASCII and the replacement character: node 0 the root,
  // edges in a map keyed node * 128 + code; a node that ends a piece has its score and output id.
  const edges = new Map<number, number>();
  const leafScore: number[] = [NaN];
  const leafId: number[] = [-1];
  for (const entry of vocab as [string, number][]) {
    const piece = entry[0];
    let node = 0;
    let ascii = piece.length > 0;
    for (let i = 0; ascii && i < piece.length; i++) ascii = edgeCode(piece.charCodeAt(i), mark) >= 0;
    if (!ascii) continue;
    for (let i = 0; i < piece.length; i++) {
      const key = node * 128 + edgeCode(piece.charCodeAt(i), mark);
      let next = edges.get(key);
      if (next === undefined) {
        next = leafId.length;
        edges.set(key, next);
        leafScore.push(NaN);
        leafId.push(-1);
      }
      node = next;
    }
    // The score of the id the model's map gives the piece (a later duplicate, or an added token, overrides).
    const mapped = tokenizer.token_to_id(piece);
    const score = mapped === undefined ? undefined : scores[mapped];
    if (mapped === undefined || score === undefined) return null;
    leafScore[node] = score;
    leafId[node] = added.ids.get(piece) ?? mapped;
  }

  // The lattice of the text being tokenized, in buffers kept between calls: per node its span, id,
  // best score and predecessor (-1: the start of the text), and the nodes ending at each position
  // as lists in insertion order (head, tail, next).
  let capacity = 0;
  let nodeStart = new Int32Array(0);
  let nodeEnd = new Int32Array(0);
  let nodeId = new Int32Array(0);
  let nodePrevious = new Int32Array(0);
  let nodeNext = new Int32Array(0);
  let nodeBest = new Float64Array(0);
  let endHead = new Int32Array(0);
  let endTail = new Int32Array(0);

  return (text) => {
    const normalized = takenText(text, normalize, added);
    if (normalized === null) return null;
    if (normalized === "") return [];
    let spaced = normalized.replaceAll(" ", mark);
    if (scheme !== "never" && !spaced.startsWith(mark)) spaced = mark + spaced;
    return viterbi(spaced);
  };

  /**
   * The best segmentation's ids, as the library's lattice finds it. Nodes
   * are made in the library's order (by start, then length, the unknown
   * node last), and each takes its best predecessor as it is made: the
   * nodes ending where it starts all started earlier, so they are all there.
   */
  function viterbi(s: string): number[] {
    const n = s.length;
    if (endHead.length < n + 1) {
      endHead = new Int32Array(2 * n + 2);
      endTail = new Int32Array(2 * n + 2);
    }
    endHead.fill(-1, 0, n + 1);
    endTail.fill(-1, 0, n + 1);
    let count = 0;
    const insert = (from: number, to: number, score: number, id: number): void => {
      if (count === capacity) grow();
      const node = count++;
      nodeStart[node] = from;
      nodeEnd[node] = to;
      nodeId[node] = id;
      let best = 0;
      let previous = -1;
      if (from === 0) {
        best = 0 + score;
      } else {
        for (let left = endHead[from] as number; left >= 0; left = nodeNext[left] as number) {
          const total = (nodeBest[left] as number) + score;
          if (previous < 0 || total > best) {
            best = total;
            previous = left;
          }
        }
      }
      nodeBest[node] = best;
      nodePrevious[node] = previous;
      nodeNext[node] = -1;
      const tail = endTail[to] as number;
      if (tail < 0) endHead[to] = node;
      else nodeNext[tail] = node;
      endTail[to] = node;
    };
    for (let from = 0; from < n; from++) {
      let single = false;
      let trieNode = 0;
      for (let i = from; i < n; i++) {
        const next = edges.get(trieNode * 128 + edgeCode(s.charCodeAt(i), mark));
        if (next === undefined) break;
        trieNode = next;
        const leaf = leafId[trieNode] as number;
        if (leaf >= 0) {
          insert(from, i + 1, leafScore[trieNode] as number, leaf);
          if (i === from) single = true;
        }
      }
      if (!single) insert(from, from + 1, unkScore, unknownId);
    }
    let last = -1;
    let lastScore = 0;
    for (let node = endHead[n] as number; node >= 0; node = nodeNext[node] as number) {
      const total = (nodeBest[node] as number) + 0;
      if (last < 0 || total > lastScore) {
        lastScore = total;
        last = node;
      }
    }
    const path: number[] = [];
    for (let node = last; node >= 0; node = nodePrevious[node] as number) path.push(node);
    path.reverse();
    if (!path.some((node) => nodeId[node] === unknownId)) return path.map((node) => nodeId[node] as number);
    return fusedUnknowns(path.map((node) => s.slice(nodeStart[node], nodeEnd[node])));
  }

  function grow(): void {
    capacity = Math.max(64, capacity * 2);
    const widen = <T extends Int32Array | Float64Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    nodeStart = widen(nodeStart, new Int32Array(capacity));
    nodeEnd = widen(nodeEnd, new Int32Array(capacity));
    nodeId = widen(nodeId, new Int32Array(capacity));
    nodePrevious = widen(nodePrevious, new Int32Array(capacity));
    nodeNext = widen(nodeNext, new Int32Array(capacity));
    nodeBest = widen(nodeBest, new Float64Array(capacity));
  }

  /**
   * The ids of pieces some of which are unknown, as the library's model
   * returns them (it always fuses unknowns): a run of unknown pieces is one
   * piece, their texts joined, unless the run starts with the unknown
   * token's own text; each piece then maps as any token does.
   */
  function fusedUnknowns(pieces: readonly string[]): number[] {
    const unknown = (piece: string): boolean => (tokenizer.token_to_id(piece) ?? unknownId) === unknownId;
    const fused: string[] = [];
    for (let i = 0; i < pieces.length; ) {
      fused.push(pieces[i] as string);
      if (!unknown(pieces[i] as string)) {
        i++;
        continue;
      }
      while (++i < pieces.length && unknown(pieces[i] as string)) {
        if (tokenizer.token_to_id(fused[fused.length - 1] as string) !== unknownId) fused[fused.length - 1] += pieces[i] as string;
      }
    }
    return fused.map((piece) => added.ids.get(piece) ?? tokenizer.token_to_id(piece) ?? unknownId);
  }
}

/** A character's trie edge code, or -1 for one no piece of ASCII text can hold. */
function edgeCode(c: number, replacement: string): number {
  if (c === replacement.charCodeAt(0)) return REPLACEMENT_CODE;
  return c >= 0x20 && c <= 0x7e ? c : -1;
}
