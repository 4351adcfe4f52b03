import { bytesCodec, baseContentType, jsonCodec, textCodec, type Codec } from './codec.js';
import { validateConfig, type ConfigSpec } from './config.js';
import { MessageValidationError, PoisonMessageError } from './errors.js';
import { formatIssues, isStandardSchema, type StandardSchemaV1 } from './standard-schema.js';

/** A registered message type: its payload schema, checked on publish and on receive. */
export interface MessageTypeSpec {
  readonly schema?: StandardSchemaV1;
}

export interface SerializerConfig {
  /** Codecs by content type. Default: JSON, text/plain, application/octet-stream. */
  readonly codecs?: readonly Codec[];
  /** Content type of published payloads when the message names none. Default `application/json`. */
  readonly defaultContentType?: string;
  /** Known message types. Default: none registered. */
  readonly types?: Readonly<Record<string, MessageTypeSpec>>;
  /**
   * What to do with a type that is not in `types`: `reject` dead-letters it as poison (`unknown-type`) and
   * refuses to publish it; `accept` passes it through unvalidated.
   * Default: `reject` when any type is registered, else `accept`.
   */
  readonly unknownTypes?: 'reject' | 'accept';
}

interface ResolvedConfig {
  codecs: readonly Codec[];
  defaultContentType: string;
  types: Readonly<Record<string, MessageTypeSpec>>;
  unknownTypes: 'reject' | 'accept' | undefined;
}

const isCodec = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Codec).contentType === 'string' &&
  typeof (value as Codec).encode === 'function' &&
  typeof (value as Codec).decode === 'function';

const isTypeMap = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every(
    (spec) => typeof spec === 'object' && spec !== null && ((spec as MessageTypeSpec).schema === undefined || isStandardSchema((spec as MessageTypeSpec).schema)),
  );

const spec: ConfigSpec<ResolvedConfig> = {
  codecs: { rule: { kind: 'array', items: { kind: 'custom', expected: 'a codec { contentType, encode, decode }', check: isCodec } }, default: [jsonCodec, textCodec, bytesCodec] },
  defaultContentType: { rule: { kind: 'string' }, default: jsonCodec.contentType },
  types: { rule: { kind: 'custom', expected: 'an object of { schema?: StandardSchema } per type', check: isTypeMap }, default: {} },
  unknownTypes: { rule: { kind: 'string', oneOf: ['reject', 'accept'] }, optional: true },
};

/** Encodes outgoing payloads and decodes incoming ones; every failure to decode is a `PoisonMessageError`. */
export class MessageSerializer {
  readonly defaultContentType: string;
  private readonly codecs = new Map<string, Codec>();
  private readonly types: Readonly<Record<string, MessageTypeSpec>>;
  private readonly rejectUnknown: boolean;

  constructor(config: SerializerConfig = {}) {
    const resolved = validateConfig('MessageSerializer', config, spec, (c) =>
      c.codecs.some((codec) => baseContentType(codec.contentType) === baseContentType(c.defaultContentType))
        ? []
        : [{ field: 'defaultContentType', expected: 'the content type of one of the codecs', received: `'${c.defaultContentType}'` }],
    );
    for (const codec of resolved.codecs) this.codecs.set(baseContentType(codec.contentType), codec);
    this.defaultContentType = resolved.defaultContentType;
    this.types = resolved.types;
    this.rejectUnknown = (resolved.unknownTypes ?? (Object.keys(resolved.types).length > 0 ? 'reject' : 'accept')) === 'reject';
  }

  /** Validates the payload against its type's schema, then encodes it as given. Throws `MessageValidationError`. */
  async encode(type: string, contentType: string, payload: unknown): Promise<Uint8Array> {
    return this.encodeNow(type, contentType, payload);
  }

  /**
   * `encode`, but synchronous unless the type's schema validates asynchronously, so that a publisher can
   * hand the message to its client in the same tick. Throws (or rejects with) `MessageValidationError`.
   */
  encodeNow(type: string, contentType: string, payload: unknown): Uint8Array | Promise<Uint8Array> {
    const codec = this.codecFor(contentType);
    if (!codec) throw new MessageValidationError(`No codec for content type '${contentType}'`);
    const typeSpec = this.lookup(type, (message) => new MessageValidationError(message));
    if (!typeSpec?.schema) return codec.encode(payload);
    // The schema describes the wire form: validate it, but send the payload as given, so that a
    // transforming schema (string → Date, defaults) is applied once, by the receiver.
    const checked = this.validate(type, typeSpec.schema, payload, (m) => new MessageValidationError(m));
    return checked instanceof Promise ? checked.then(() => codec.encode(payload)) : codec.encode(payload);
  }

  /** Decodes and validates a received payload. Throws `PoisonMessageError` with the reason. */
  async decode(type: string, contentType: string, body: Uint8Array): Promise<unknown> {
    const payload = this.decodeNow(type, contentType, body);
    return payload instanceof Promise ? await payload : payload;
  }

  /** `decode`, but synchronous unless the type's schema validates asynchronously. Throws (or rejects with) `PoisonMessageError`. */
  decodeNow(type: string, contentType: string, body: Uint8Array): unknown {
    const codec = this.codecFor(contentType);
    if (!codec) throw new PoisonMessageError('unknown-content-type', `no codec for content type '${contentType}'`);
    const typeSpec = this.lookup(type, (message) => new PoisonMessageError('unknown-type', message));
    const payload = codec.decode(body);
    return typeSpec?.schema ? this.validate(type, typeSpec.schema, payload, (m) => new PoisonMessageError('schema-violation', m)) : payload;
  }

  private lookup(type: string, fail: (message: string) => Error): MessageTypeSpec | undefined {
    const typeSpec = Object.hasOwn(this.types, type) ? this.types[type] : undefined;
    if (!typeSpec && this.rejectUnknown) throw fail(`message type '${type}' is not registered`);
    return typeSpec;
  }

  /** Codecs are keyed by base content type; the common exact match skips parsing the parameters. */
  private codecFor(contentType: string): Codec | undefined {
    return this.codecs.get(contentType) ?? this.codecs.get(baseContentType(contentType));
  }

  /** The validated value; a promise only when the schema validates asynchronously. */
  private validate(type: string, schema: StandardSchemaV1, payload: unknown, fail: (message: string) => Error): unknown {
    const result = schema['~standard'].validate(payload);
    return result instanceof Promise ? result.then((settled) => accepted(type, settled, fail)) : accepted(type, result, fail);
  }
}

function accepted(type: string, result: StandardSchemaV1.Result<unknown>, fail: (message: string) => Error): unknown {
  if (result.issues) throw fail(`payload of '${type}' violates its schema: ${formatIssues(result.issues)}`);
  return result.value;
}
