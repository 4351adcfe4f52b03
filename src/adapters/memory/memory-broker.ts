import type { WireRecord } from '../../core/index.js';
import type { ResolvedMemoryConfig } from './config.js';
import { GroupQueue, type StoredMessage } from './group-queue.js';

interface Topic {
  readonly retained: StoredMessage[];
  readonly groups: Map<string, GroupQueue>;
}

export interface GroupStats {
  readonly ready: number;
  readonly inFlight: number;
  readonly consumers: number;
}

/**
 * The broker of the memory transport: topics that fan out to consumer groups. Durable for the life of
 * the process — a message appended here survives any consumer or publisher closing or crashing.
 */
export class MemoryBroker {
  private readonly topics = new Map<string, Topic>();
  private seq = 0;

  constructor(private readonly config: ResolvedMemoryConfig) {}

  append(topicName: string, record: WireRecord): StoredMessage {
    const topic = this.topic(topicName);
    const message: StoredMessage = { seq: ++this.seq, topic: topicName, record, publishedAt: new Date() };
    if (this.config.retainPerTopic > 0) {
      topic.retained.push(message);
      if (topic.retained.length > this.config.retainPerTopic) topic.retained.shift();
    }
    for (const queue of topic.groups.values()) {
      queue.enqueue(message);
      if (this.config.duplicateDeliveries) queue.enqueue(message);
      queue.dispatch();
    }
    return message;
  }

  /** The group's queue, created (and, if configured, filled with retained messages) on first use. */
  group(topicName: string, group: string): GroupQueue {
    const topic = this.topic(topicName);
    let queue = topic.groups.get(group);
    if (!queue) {
      queue = new GroupQueue({
        topic: topicName,
        group,
        deliveryLimit: this.config.deliveryLimit,
        deadLetter: (record) => this.append(this.config.deadLetterTopic(topicName, group), record),
      });
      if (this.config.deliverRetainedToNewGroups) {
        for (const message of topic.retained) {
          queue.enqueue(message);
          if (this.config.duplicateDeliveries) queue.enqueue(message);
        }
      }
      topic.groups.set(group, queue);
    }
    return queue;
  }

  stats(topicName: string, group: string): GroupStats {
    const queue = this.topics.get(topicName)?.groups.get(group);
    return { ready: queue?.readyCount ?? 0, inFlight: queue?.inFlightCount ?? 0, consumers: queue?.memberCount ?? 0 };
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = { retained: [], groups: new Map() };
      this.topics.set(name, topic);
    }
    return topic;
  }
}
