import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface EventStoreLimits {
  /**
   * Messages kept at most, oldest dropped first. Priming events (an id for the client to resume
   * from, no data) do not count against it; they are capped at the same number on their own.
   */
  maxEvents: number;
  /** Bytes of serialized messages kept at most, oldest dropped first. */
  maxBytes: number;
  /** How long an event stays replayable. */
  retentionMs: number;
}

/**
 * A resuming client reconnects within the `retry` interval it was given (a second), so half a
 * minute is ample; after it an idle session holds no events at all.
 */
export const SESSION_EVENT_LIMITS: EventStoreLimits = { maxEvents: 32, maxBytes: 32 * 1024, retentionMs: 30_000 };

/** The `retry` (ms) sent in the priming event: how long a client waits before resuming a closed stream. */
export const RESUME_RETRY_MS = 1000;

interface StoredEvent {
  id: EventId;
  /** Order of storing: every event after this one has a higher number. */
  sequence: number;
  streamId: StreamId;
  /** The serialized message; empty for a priming event, which is never replayed. */
  data: string;
  bytes: number;
  storedAt: number;
}

/** An event that a resume is about to replay from: it and every later event are kept until released. */
interface Hold {
  sequence: number;
}

/**
 * One MCP session's recent outgoing messages, so that a client whose SSE stream closed (a dropped
 * connection, or the server asking it to poll, SEP-1699) can resume with `Last-Event-ID` and
 * receive what it missed. Per session, so an event id from another session is simply unknown.
 *
 * Bounded by count, bytes and age; messages go oldest first, so what is kept is always an unbroken
 * run up to the newest event: a resume either gets every later message of its stream or, from an
 * event no longer kept, a 400 (never a silent gap). Priming events carry nothing, so dropping one
 * out of turn leaves no gap; they have their own cap and never push a message out. `clear()`
 * frees it all when the session closes.
 *
 * The transport asks getStreamIdForEventId (an unknown id gets its 400 there) and then calls
 * replayEventsAfter, where an error could only become a 500. So the lookup holds the event and
 * everything after it until the replay has run: nothing is dropped in between, whatever other
 * requests store meanwhile. The transport makes both calls within one turn of the event loop;
 * the lookup's hold lasts until the next turn, the replay's until it has sent everything.
 */
export class SessionEventStore implements EventStore {
  readonly #events: StoredEvent[] = [];
  readonly #holds = new Set<Hold>();
  #messages = 0;
  #bytes = 0;
  #sequence = 0;
  #expiry: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: EventStoreLimits = SESSION_EVENT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** What is held now; the tests' view of an idle session's store emptying by itself. */
  get usage(): { messages: number; priming: number; bytes: number } {
    return { messages: this.#messages, priming: this.#events.length - this.#messages, bytes: this.#bytes };
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    this.#dropExpired();
    this.#sequence += 1;
    const id = `${streamId}|${this.#sequence}`;
    const data = Object.keys(message).length === 0 ? '' : JSON.stringify(message);
    const bytes = Buffer.byteLength(data);
    this.#events.push({ id, sequence: this.#sequence, streamId, data, bytes, storedAt: this.now() });
    if (data !== '') {
      this.#messages += 1;
      this.#bytes += bytes;
    }
    this.#trim();
    this.#scheduleExpiry();
    return id;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    this.#dropExpired();
    const event = this.#find(eventId);
    if (!event) return undefined;
    const hold = this.#hold(event);
    setImmediate(() => this.#release(hold));
    return event.streamId;
  }

  async replayEventsAfter(lastEventId: EventId, { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> }): Promise<StreamId> {
    const from = this.#find(lastEventId);
    // Only reachable without the lookup first (which the transport always makes): replaying from
    // an event no longer kept could skip messages, so refuse.
    if (!from) throw new Error('the event to resume from is no longer kept');
    const hold = this.#hold(from);
    try {
      // Read live, not from a copy: a message stored while the replay awaits is sent too.
      let last = from.sequence;
      for (;;) {
        const next = this.#events.find((event) => event.sequence > last && event.streamId === from.streamId && event.data !== '');
        if (!next) return from.streamId;
        await send(next.id, JSON.parse(next.data) as JSONRPCMessage);
        last = next.sequence;
      }
    } finally {
      this.#release(hold);
    }
  }

  /** Whether nothing is held (and no timer runs): a shed session can do without the store. */
  get empty(): boolean {
    return this.#events.length === 0 && this.#holds.size === 0;
  }

  /** Drops every event and the expiry timer: the session is gone. */
  clear(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    this.#events.length = 0;
    this.#holds.clear();
    this.#messages = 0;
    this.#bytes = 0;
  }

  #find(eventId: EventId): StoredEvent | undefined {
    return this.#events.find((event) => event.id === eventId);
  }

  #hold(event: StoredEvent): Hold {
    const hold = { sequence: event.sequence };
    this.#holds.add(hold);
    return hold;
  }

  #release(hold: Hold): void {
    if (this.#holds.delete(hold)) this.#trim();
  }

  /** False for a held event (or one after it): a resume is replaying from there. */
  #droppable(event: StoredEvent): boolean {
    for (const hold of this.#holds) if (event.sequence >= hold.sequence) return false;
    return true;
  }

  #trim(): void {
    while ((this.#messages > this.limits.maxEvents || this.#bytes > this.limits.maxBytes) && this.#droppable(this.#events[0]!)) this.#drop(0);
    let priming = this.#events.length - this.#messages;
    while (priming > this.limits.maxEvents) {
      const oldest = this.#events.findIndex((event) => event.data === '');
      if (!this.#droppable(this.#events[oldest]!)) break;
      this.#drop(oldest);
      priming -= 1;
    }
  }

  #drop(index: number): void {
    const [event] = this.#events.splice(index, 1);
    if (event && event.data !== '') {
      this.#messages -= 1;
      this.#bytes -= event.bytes;
    }
  }

  #dropExpired(): void {
    const cutoff = this.now() - this.limits.retentionMs;
    while (this.#events.length > 0 && this.#events[0]!.storedAt <= cutoff && this.#droppable(this.#events[0]!)) this.#drop(0);
  }

  /** One timer per store with events, so an idle session's events expire without any request. */
  #scheduleExpiry(): void {
    if (this.#expiry !== undefined || this.#events.length === 0) return;
    const wait = Math.max(this.#events[0]!.storedAt + this.limits.retentionMs - this.now(), 0) + 1;
    this.#expiry = setTimeout(() => {
      this.#expiry = undefined;
      this.#dropExpired();
      this.#scheduleExpiry();
    }, wait);
    this.#expiry.unref();
  }
}
