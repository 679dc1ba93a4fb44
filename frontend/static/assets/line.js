// What the pages read from a snapshot of the line: its lists, places, and
// estimates. No DOM, so node tests drive it.

/** The snapshot lists at most this many waiting tickets (queue.SnapshotWaiting). */
export const SNAPSHOT_WAITING = 64;

/** Returns the snapshot's lists, treating absent ones (JSON null) as empty. */
export function lists(snap) {
  return {
    serving: Array.isArray(snap?.serving) ? snap.serving : [],
    called: Array.isArray(snap?.called) ? snap.called : [],
    waiting: Array.isArray(snap?.waiting) ? snap.waiting : [],
  };
}

/** How many are in line (called and waiting). */
export function lineLength(snap) {
  const { called, waiting } = lists(snap);
  return Number.isFinite(snap?.length) ? snap.length : called.length + waiting.length;
}

/**
 * The wait a new ticket would have, in seconds, by the server's own rule
 * for a waiting ticket's estimate: the tickets ahead of it that are not yet
 * called (at least one), times the line's time per ticket. NaN when unknown.
 */
export function takeEstimate(snap) {
  if (!snap || !Number.isFinite(snap.eta_seconds_per_ticket)) return NaN;
  const { called } = lists(snap);
  return Math.max(lineLength(snap) + 1 - called.length, 1) * snap.eta_seconds_per_ticket;
}

/** The place in line of the i-th waiting ticket the snapshot lists (places count called tickets too). */
export function waitingPlace(snap, i) {
  return lists(snap).called.length + i + 1;
}

/** For a ticket at `position` not among the listed ones: how many places after the last one listed; 0 otherwise. */
export function placesAfterShown(snap, position) {
  if (!snap || !Number.isFinite(position)) return 0;
  const { called, waiting } = lists(snap);
  const lastShown = called.length + waiting.length;
  return position > lastShown ? position - lastShown : 0;
}
