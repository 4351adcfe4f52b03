import assert from 'node:assert/strict';
import type { AdminDriver } from '../../../src/adapters/kafka/driver.js';
import { TopicRegistry } from '../../../src/adapters/kafka/topic-registry.js';
import { TopologyError } from '../../../src/core/index.js';

const notYetKnown = (): Error => Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });

/** An admin client that creates the topic, then (as KRaft sometimes does) does not know it for a few metadata requests. */
function lateMetadataAdmin(unknownFor: number, createError: Error): AdminDriver & { metadataCalls: number } {
  const admin = {
    metadataCalls: 0,
    createTopics: () => Promise.reject(createError),
    fetchTopicMetadata: ({ topics }: { topics: string[] }) => {
      admin.metadataCalls++;
      if (admin.metadataCalls <= unknownFor) return Promise.reject(notYetKnown());
      return Promise.resolve({ topics: topics.map((name) => ({ name, partitions: [{ leader: 0 }, { leader: 0 }] })) });
    },
  };
  return admin as unknown as AdminDriver & { metadataCalls: number };
}

const topicsConfig = { defaults: { partitions: 2 }, topics: {}, allowUnreplicated: false };

describe('TopicRegistry', () => {
  it('a topic created but not yet known to the metadata request: waits for its leaders instead of failing', async () => {
    const admin = lateMetadataAdmin(2, notYetKnown());
    const registry = new TopicRegistry(admin, topicsConfig, 1);
    await registry.ensure('t');
    assert.equal(admin.metadataCalls, 3);
    assert.ok(registry.created.has('t'));
    assert.equal(await registry.partitions('t'), 2);
  });

  it('any other creation error is a TopologyError at once', async () => {
    const admin = lateMetadataAdmin(0, Object.assign(new Error('Topic replication factor below 1'), { type: 'INVALID_REPLICATION_FACTOR' }));
    const registry = new TopicRegistry(admin, topicsConfig, 1);
    await assert.rejects(registry.ensure('t'), (e: unknown) => e instanceof TopologyError && /replication factor/.test(e.message));
    assert.equal(admin.metadataCalls, 0);
  });
});
