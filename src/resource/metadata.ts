import type { Router } from 'express';
import express from 'express';
import { SERVICE_NAME } from '../../views/layout.js';
import { mcpScopeNames } from '../authorization/scopes.js';
import { mcpResources } from '../config.js';
import { cors } from '../http/cors.js';

export interface ResourceMetadataConfig {
  publicUrl: string;
  mcpUrl: string;
  /** The legacy HTTP+SSE endpoint, a resource of its own when served. */
  legacySseUrl: string | undefined;
}

export const PRM_PATH = '/.well-known/oauth-protected-resource';

/** Where the metadata for `resource` (default /mcp) lives (RFC 9728 §3.1: the well-known path inserted before the resource path). */
export function resourceMetadataUrl(config: ResourceMetadataConfig, resource = config.mcpUrl): string {
  return `${config.publicUrl}${PRM_PATH}${new URL(resource).pathname}`;
}

/**
 * RFC 9728 protected-resource metadata, generated from configuration so it always names the URL the
 * server is really on. `resource` is the exact MCP URL (Gemini CLI compares it strictly) and
 * `authorization_servers[0]` is byte-identical to the issuer.
 */
export function protectedResourceMetadata(config: ResourceMetadataConfig, resource = config.mcpUrl) {
  return {
    resource,
    authorization_servers: [config.publicUrl],
    scopes_supported: mcpScopeNames,
    bearer_methods_supported: ['header'],
    resource_name: SERVICE_NAME,
  };
}

/**
 * Served at the path-inserted location and at the root, for clients that probe only one of them;
 * the root one describes /mcp. The legacy /sse endpoint has its own document at
 * /.well-known/oauth-protected-resource/sse naming `resource: …/sse`: clients configured with the
 * /sse URL (Gemini CLI's `url`, the SDK's SSEClientTransport) look there and compare strictly.
 */
export function resourceMetadataRoutes(config: ResourceMetadataConfig): Router {
  const router = express.Router();
  const documents = new Map([[PRM_PATH, config.mcpUrl]]);
  for (const resource of mcpResources(config)) documents.set(`${PRM_PATH}${new URL(resource).pathname}`, resource);
  router.use([...documents.keys()], cors({ methods: ['GET', 'HEAD'] }));
  for (const [path, resource] of documents) {
    const body = JSON.stringify(protectedResourceMetadata(config, resource));
    router.get(path, (_req, res) => {
      res.set({ 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' }).send(body);
    });
  }
  return router;
}
