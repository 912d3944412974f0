import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface EventStoreLimits {
  /** Events kept at most, oldest dropped first. */
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
  streamId: StreamId;
  /** The serialized message; empty for a priming event, which is never replayed. */
  data: string;
  bytes: number;
  storedAt: number;
}

/**
 * One MCP session's recent outgoing messages, so that a client whose SSE stream closed (a dropped
 * connection, or the server asking it to poll, SEP-1699) can resume with `Last-Event-ID` and
 * receive what it missed. Per session, so an event id from another session is simply unknown.
 *
 * Bounded by count, bytes and age; the oldest go first, so what is kept is always an unbroken run
 * up to the newest event: a resume either gets every later message of its stream or, from an
 * event no longer kept, a 400 (never a silent gap). `clear()` frees it when the session closes.
 */
export class SessionEventStore implements EventStore {
  readonly #events: StoredEvent[] = [];
  #bytes = 0;
  #sequence = 0;
  #expiry: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: EventStoreLimits = SESSION_EVENT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Events and bytes held now. */
  get usage(): { events: number; bytes: number } {
    return { events: this.#events.length, bytes: this.#bytes };
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    this.#dropExpired();
    this.#sequence += 1;
    const id = `${streamId}|${this.#sequence}`;
    const data = Object.keys(message).length === 0 ? '' : JSON.stringify(message);
    const bytes = Buffer.byteLength(data);
    this.#events.push({ id, streamId, data, bytes, storedAt: this.now() });
    this.#bytes += bytes;
    while (this.#events.length > this.limits.maxEvents || this.#bytes > this.limits.maxBytes) this.#dropOldest();
    this.#scheduleExpiry();
    return id;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    this.#dropExpired();
    return this.#events.find((event) => event.id === eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId: EventId, { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> }): Promise<StreamId> {
    const index = this.#events.findIndex((event) => event.id === lastEventId);
    // The transport asks getStreamIdForEventId first (unknown ids get a 400); only an event
    // dropped in between lands here, and replaying the rest would hide the gap.
    if (index < 0) throw new Error('the event to resume from is no longer kept');
    const { streamId } = this.#events[index]!;
    const later = this.#events.slice(index + 1).filter((event) => event.streamId === streamId && event.data !== '');
    for (const event of later) await send(event.id, JSON.parse(event.data) as JSONRPCMessage);
    return streamId;
  }

  /** Drops every event and the expiry timer: the session is gone. */
  clear(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    this.#events.length = 0;
    this.#bytes = 0;
  }

  #dropOldest(): void {
    const oldest = this.#events.shift();
    if (oldest) this.#bytes -= oldest.bytes;
  }

  #dropExpired(): void {
    const cutoff = this.now() - this.limits.retentionMs;
    while (this.#events.length > 0 && this.#events[0]!.storedAt <= cutoff) this.#dropOldest();
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
