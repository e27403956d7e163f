/** The integration harness: import what a test needs from here. */
export * from './cleanup.js';
export * from './env.js';
export * from './load.js';
export * from './nats.js';
export * from './postgres.js';
export * from './prom.js';
export * from './redis.js';
export * from './service.js';
export * from './tcp-proxy.js';
export * from './wait.js';
export * from './workload.js';
