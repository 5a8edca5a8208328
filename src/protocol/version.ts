/** The wire protocol version. Bump it whenever a message schema changes (a test hashes the schemas). */
export const PROTOCOL_VERSION = 1;
