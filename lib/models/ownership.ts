/**
 * Who may run a module now. A running Trainer.fit owns the modules it trains
 * ({@link claimModules}); serving calls (forwardQuery, forwardItems) from
 * elsewhere wait until it has ended ({@link useModules}), so they never see
 * training mode (dropout) or weights halfway through a step. A claim waits
 * for serving calls already running, so fit's train()/eval() never meet a
 * forward in flight (which would be a BusyError). Calls made by the owner
 * itself (a validation step that calls forwardQuery) run at once: the owner
 * is known through AsyncLocalStorage. Serving calls nest (forwardQuery calls
 * encode, which is public too): a call made inside another that already uses
 * the same modules runs at once, so a fit claiming in between cannot deadlock
 * them.
 */
import { AsyncLocalStorage } from "node:async_hooks";

import type { Module } from "../module";

interface Ownership {
  /** Settles when the owner (a fit) releases the module; null while nobody owns it. */
  owner: Promise<void> | null;
  /** Serving calls running on the module. */
  users: number;
  /** Called when `users` drops to 0. */
  drained: (() => void)[];
}

const table = new WeakMap<Module, Ownership>();

/** The owner (a fit) whose work the current async context belongs to. */
const currentOwner = new AsyncLocalStorage<Promise<void>>();

/** The modules the serving call of the current async context counts as a user of. */
const currentUse = new AsyncLocalStorage<ReadonlySet<Module>>();

function entry(module: Module): Ownership {
  let e = table.get(module);
  if (e === undefined) table.set(module, (e = { owner: null, users: 0, drained: [] }));
  return e;
}

/** The distinct modules, in order (shared towers appear once). */
function distinct(modules: Iterable<Module>): Module[] {
  return [...new Set(modules)];
}

/** Resolves when none of `modules` is owned; the check and the caller's next synchronous step are atomic. */
async function unowned(modules: readonly Module[]): Promise<void> {
  for (;;) {
    const mine = currentOwner.getStore();
    const held = modules.map((m) => entry(m).owner).find((p) => p !== null && p !== mine);
    if (held === undefined || held === null) return;
    await held;
  }
}

/** True while a fit owns `module`. */
export function isOwned(module: Module): boolean {
  return table.get(module)?.owner != null;
}

/**
 * True when the current async context is the fit that owns one of
 * `modules`: its calls run at once and must not queue behind calls that
 * wait for it (query-batcher.ts).
 */
export function isOwnedByCaller(modules: Iterable<Module>): boolean {
  const mine = currentOwner.getStore();
  if (mine === undefined) return false;
  for (const m of modules) if (table.get(m)?.owner === mine) return true;
  return false;
}

/**
 * Runs `work` (a serving call) once no fit owns any of `modules`, counting it
 * as a user of them until it settles.
 */
export async function useModules<T>(modules: Iterable<Module>, work: () => Promise<T>): Promise<T> {
  const list = distinct(modules);
  const using = currentUse.getStore();
  if (using !== undefined && list.every((m) => using.has(m))) return work();  // nested in a call that already uses them
  await unowned(list);
  for (const m of list) entry(m).users++;
  try {
    return await currentUse.run(new Set([...(using ?? []), ...list]), work);
  } finally {
    for (const m of list) {
      const e = entry(m);
      if (--e.users === 0) for (const done of e.drained.splice(0)) done();
    }
  }
}

/**
 * Takes `modules` for one owner (a fit): waits until no other owner holds
 * them and until the serving calls already running on them have finished.
 * `run(work)` runs the owner's work (its own serving calls do not wait);
 * `release()` ends the claim, and serving calls waiting meanwhile run.
 */
export async function claimModules(modules: Iterable<Module>): Promise<{ run<T>(work: () => Promise<T>): Promise<T>; release(): void }> {
  const list = distinct(modules);
  await unowned(list);
  let release!: () => void;
  const owner = new Promise<void>((resolve) => (release = resolve));
  for (const m of list) entry(m).owner = owner;
  for (const m of list) {
    const e = entry(m);
    if (e.users > 0) await new Promise<void>((resolve) => e.drained.push(resolve));
  }
  let released = false;
  return {
    run: (work) => currentOwner.run(owner, work),
    release: () => {
      if (released) return;
      released = true;
      for (const m of list) if (entry(m).owner === owner) entry(m).owner = null;
      release();
    },
  };
}
