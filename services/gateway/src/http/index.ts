/** The HTTP edge: routing, SSE, WebSocket upgrade, probes and metrics. */
export { type ProbeState, Probes } from './probes.js';
export { clientAddress, RequestLog, trustedProxies } from './request-log.js';
export {
  channelNameFromPath,
  firstParam,
  fixedRoute,
  parseQuery,
  type RequestContext,
  requestContext,
} from './routes.js';
export { createHttpServer, type HttpServerOptions, listen } from './server.js';
export { SocketTap } from './socket-tap.js';
export { SseRoute, type SseRouteOptions } from './sse-route.js';
export { isStreamRequest, StreamDoor } from './stream-door.js';
export { WsSessions, type WsSessionsOptions } from './ws-session.js';
export { WsUpgrade, type WsUpgradeOptions } from './ws-upgrade.js';
