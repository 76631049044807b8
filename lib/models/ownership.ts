/**
 * Who may run a module now. A running Trainer.fit owns the modules it trains
 * ({@link claimModules}); serving calls (forwardQuery, forwardItems) from
 * elsewhere wait until it has ended ({@link useModules}), so they never see
 * training mode (dropout) or weights halfway through a step. A claim waits
 * for serving calls already running, so fit's train()/eval() never meet a
 * forward in flight (which would be a BusyError). Calls made by the owner
 * itself (a validation step that calls forwardQuery) run at once: the owner
 * is known through AsyncLocalStorage, entered only by a fit.
 *
 * Serving calls enter no async context: on Node 20 the first
 * `AsyncLocalStorage.run` turns on promise hooks for the whole process, for
 * good, and every promise of the host application then costs ~2x
 * (bench/boundary.js). So serving calls do not nest: a public method that
 * calls useModules never calls another that does (the work passed to it
 * calls private methods), since a fit claiming in between would wait for
 * the outer call while the inner one waited for the fit.
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

function entry(module: Module): Ownership {
  let e = table.get(module);
  if (e === undefined) table.set(module, (e = { owner: null, users: 0, drained: [] }));
  return e;
}

/** The distinct modules, in order (shared towers appear once). */
function distinct(modules: Iterable<Module>): Module[] {
  return [...new Set(modules)];
}

/** The claim of an owner other than the caller's on one of `modules`, or null. */
function heldByOther(modules: readonly Module[]): Promise<void> | null {
  const mine = currentOwner.getStore();
  for (const m of modules) {
    const owner = entry(m).owner;
    if (owner !== null && owner !== mine) return owner;
  }
  return null;
}

/** Resolves when no other owner holds any of `modules`; the check and the caller's next synchronous step are atomic. */
async function unowned(modules: readonly Module[]): Promise<void> {
  for (let held = heldByOther(modules); held !== null; held = heldByOther(modules)) await held;
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
 * as a user of them until it settles. `work` must not call useModules on
 * them again (see the top of this file).
 */
export async function useModules<T>(modules: Iterable<Module>, work: () => Promise<T>): Promise<T> {
  const list = distinct(modules);
  if (heldByOther(list) !== null) await unowned(list);  // no promise to wait on while nobody else owns them
  for (const m of list) entry(m).users++;
  try {
    return await work();
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
