import type { Router } from 'express';
import express from 'express';
import { SERVICE_NAME } from '../../views/layout.js';
import { mcpScopeNames } from '../authorization/scopes.js';
import { cors } from '../http/cors.js';

export interface ResourceMetadataConfig {
  publicUrl: string;
  mcpUrl: string;
}

export const PRM_PATH = '/.well-known/oauth-protected-resource';

/** Where the metadata for /mcp lives (RFC 9728 §3.1: the well-known path inserted before the resource path). */
export function resourceMetadataUrl(config: ResourceMetadataConfig): string {
  return `${config.publicUrl}${PRM_PATH}${new URL(config.mcpUrl).pathname}`;
}

/**
 * RFC 9728 protected-resource metadata, generated from configuration so it always names the URL the
 * server is really on. `resource` is the exact MCP URL (Gemini CLI compares it strictly) and
 * `authorization_servers[0]` is byte-identical to the issuer.
 */
export function protectedResourceMetadata(config: ResourceMetadataConfig) {
  return {
    resource: config.mcpUrl,
    authorization_servers: [config.publicUrl],
    scopes_supported: mcpScopeNames,
    bearer_methods_supported: ['header'],
    resource_name: SERVICE_NAME,
  };
}

/** Served at the path-inserted location and at the root, for clients that probe only one of them. */
export function resourceMetadataRoutes(config: ResourceMetadataConfig): Router {
  const router = express.Router();
  const body = JSON.stringify(protectedResourceMetadata(config));
  const send: express.RequestHandler = (_req, res) => {
    res.set({ 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' }).send(body);
  };
  const paths = [PRM_PATH, `${PRM_PATH}${new URL(config.mcpUrl).pathname}`];
  router.use(paths, cors({ methods: ['GET', 'HEAD'] }));
  router.get(paths, send);
  return router;
}
