#!/usr/bin/env node
/**
 * Generates the demo's data deterministically from a seed: a product
 * catalogue (data/catalogue.jsonl) and search sessions with clicks
 * (data/clickstream.jsonl) in the format of lib/training/clickstream/format.ts.
 *
 * Items are named canonically ("Kestrel red leather running shoes for
 * women"); shoppers search with synonyms ("crimson sneakers"), so a model that
 * learns from the clicks which words mean the same thing ranks better. The
 * logged search engine matches words literally and mixes in a few truly
 * relevant items; shoppers click relevant items with a position bias and
 * occasionally something else; some sessions end without a click.
 *
 * usage (after npm run build:ts): node scripts/make-clickstream.js [--seed 7] [--sessions 3000] [--out data]
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function args(argv) {
  const out = { seed: 7, sessions: 3000, out: path.join(__dirname, "..", "data") };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in out)) throw new Error(`unknown option --${key}; expected --seed, --sessions, --out`);
    out[key] = key === "out" ? argv[i + 1] : Number(argv[i + 1]);
  }
  return out;
}

// The package's seeded PRNG (needs dist/: npm run build:ts), so data and training draw alike.
const { mulberry32 } = require("../dist/training/random");

const THINGS = {
  "running shoes": ["sneakers", "trainers", "jogging shoes"],
  sweatshirt: ["hoodie", "pullover", "jumper"],
  backpack: ["rucksack", "daypack", "school bag"],
  headphones: ["earphones", "headset", "earbuds"],
  "water bottle": ["flask", "drinking bottle", "canteen"],
  "desk lamp": ["reading light", "table lamp", "work light"],
  "coffee mug": ["cup", "tea mug", "travel mug"],
  "rain jacket": ["raincoat", "waterproof coat", "anorak"],
  "phone case": ["phone cover", "smartphone case", "mobile cover"],
  "wrist watch": ["watch", "timepiece", "smartwatch"],
  sunglasses: ["shades", "sun specs", "eyewear"],
  "yoga mat": ["exercise mat", "fitness mat", "workout mat"],
};
const COLORS = {
  red: ["crimson", "scarlet", "cherry"],
  blue: ["navy", "azure", "cobalt"],
  black: ["jet", "ebony", "onyx"],
  white: ["ivory", "snow", "cream"],
  green: ["olive", "emerald", "lime"],
  grey: ["gray", "charcoal", "slate"],
  pink: ["rose", "blush", "salmon"],
  yellow: ["mustard", "lemon", "golden"],
};
const MATERIALS = ["cotton", "leather", "nylon", "bamboo", "steel", "wool", "canvas", "recycled plastic"];
const BRANDS = ["Nordline", "Kestrel", "Amberfield", "Polaris", "Vantage", "Tidewater", "Redwood", "Lumen", "Corvid", "Halden"];
const AUDIENCES = ["men", "women", "kids", "everyone"];

function main() {
  const o = args(process.argv);
  const random = mulberry32(o.seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const items = [];
  const texts = new Set();
  for (const thing of Object.keys(THINGS))
    for (const color of Object.keys(COLORS))
      for (let k = 0; k < 12; k++) {
        // Texts are unique: two items with one text would be one item to a model, and an
        // item-disjoint split could not keep a held-out item's text out of training.
        let brand, text;
        do {
          brand = pick(BRANDS);
          text = `${brand} ${color} ${pick(MATERIALS)} ${thing} for ${pick(AUDIENCES)}`;
        } while (texts.has(text));
        texts.add(text);
        items.push({ item_id: `item-${String(items.length + 1).padStart(5, "0")}`, text, thing, color, brand });
      }
  const words = (s) => new Set(s.toLowerCase().split(/\s+/));
  const itemWords = items.map((it) => words(it.text));
  const sessions = [];
  for (let s = 0; s < o.sessions; s++) {
    const thing = pick(Object.keys(THINGS));
    const color = pick(Object.keys(COLORS));
    const thingWord = random() < 0.75 ? pick(THINGS[thing]) : thing;
    const colorWord = random() < 0.75 ? pick(COLORS[color]) : color;
    const templates = [`${colorWord} ${thingWord}`, `${thingWord} in ${colorWord}`, `${colorWord} ${thingWord} for ${pick(AUDIENCES)}`, `${pick(BRANDS).toLowerCase()} ${colorWord} ${thingWord}`];
    const query = pick(templates);
    const q = words(query);
    // The logged engine: literal word overlap plus noise, with 3 relevant items slipped in.
    const scored = items.map((it, i) => ({ i, s: [...q].filter((w) => itemWords[i].has(w)).length + random() * 0.5 }));
    scored.sort((a, b) => b.s - a.s);
    const shown = scored.slice(0, 7).map((e) => e.i);
    const relevant = items.map((it, i) => (it.thing === thing && it.color === color ? i : -1)).filter((i) => i >= 0);
    while (shown.length < 10) {
      const r = pick(relevant);
      if (!shown.includes(r)) shown.splice(Math.floor(random() * (shown.length + 1)), 0, r);
    }
    const results = shown.map((i, rank) => ({ item_id: items[i].item_id, rank: rank + 1, score: Number((0.9 - 0.04 * rank + (random() - 0.5) * 0.02).toFixed(4)) }));
    const clicks = shown.filter((i, rank) => {
      const isRelevant = items[i].thing === thing && items[i].color === color;
      return random() < (isRelevant ? 0.85 / (1 + 0.15 * rank) : 0.02);
    }).map((i) => items[i].item_id);
    sessions.push({ session_id: `session-${String(s + 1).padStart(5, "0")}`, query, results, clicks, timestamp: 1700000000 + s * 37 });
  }
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, "catalogue.jsonl"), items.map((it) => JSON.stringify({ item_id: it.item_id, text: it.text })).join("\n") + "\n");
  fs.writeFileSync(path.join(o.out, "clickstream.jsonl"), sessions.map((x) => JSON.stringify(x)).join("\n") + "\n");
  const clicked = sessions.filter((x) => x.clicks.length > 0).length;
  process.stdout.write(`wrote ${items.length} items and ${sessions.length} sessions (${clicked} with clicks) to ${o.out} (seed ${o.seed})\n`);
}

main();
