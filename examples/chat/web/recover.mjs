// Lossless channels on pyre's recoverable topics, with the stock phoenix
// client. pyre adds "_pos" (the message's position in the topic's stream)
// to every recorded broadcast; this module remembers the newest one per
// channel and sends it back as "_since" whenever phoenix.js rejoins, so the
// server replays what was missed, in order and once, before anything live.
// When the server cannot (the position is older than the topic's history,
// or from a stream that was lost), the join reply says so and onResync
// callbacks run: reload what the page shows from elsewhere.
//
//   import {recoverable} from "./recover.mjs";
//   const room = recoverable(socket, "room:lobby");
//   room.onResync(() => showNotice("some messages could not be recovered"));
//   room.channel.on("new_msg", addMessage);
//   room.channel.join();

/**
 * Makes socket.channel(topic, params) that recovers across rejoins.
 * params may be an object or a function returning one, as with phoenix.js.
 * opts.since starts from a position kept elsewhere (another socket, or
 * storage across a reload).
 * Returns {channel, position(), onResync(callback), needsResync()}.
 */
export function recoverable(socket, topic, params = {}, {since = null} = {}) {
  let last = since; // the newest position this page has
  let asked = null; // the position the join in flight asked to recover after
  let resync = false;
  const callbacks = [];

  const channel = socket.channel(topic, () => {
    const base = typeof params === "function" ? params() : params;
    asked = last;
    return {...base, _since: last};
  });

  // onMessage sees every message before the bindings do.
  const onMessage = channel.onMessage.bind(channel);
  channel.onMessage = (event, payload, ref, joinRef) => {
    if (payload && typeof payload._pos === "string") last = payload._pos;
    return onMessage(event, payload, ref, joinRef);
  };

  // The join push is reused by every rejoin, and so are its hooks.
  channel.joinPush.receive("ok", (resp) => {
    if (!resp || typeof resp._recovered !== "boolean") return;
    if (resp._recovered) {
      resync = false;
      return; // the missed messages follow the reply and move last on
    }
    // Live from here; no _pos: not a recoverable topic, or its history
    // could not be read.
    last = typeof resp._pos === "string" ? resp._pos : null;
    if (asked !== null) {
      resync = true;
      for (const cb of callbacks) cb({since: asked, position: resp._pos});
    }
  });

  return {
    channel,
    /** The newest position seen, or null before the first join. */
    position: () => last,
    /** Runs callback({since, position}) each time a rejoin could not recover. */
    onResync(callback) { callbacks.push(callback); },
    /** True from a rejoin that could not recover until one that could. */
    needsResync: () => resync,
  };
}
