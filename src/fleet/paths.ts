// The resource paths of the gateway and of the node agent (DESIGN §5), as router patterns
// and as concrete paths, so the two daemons and the CLI never spell them twice.

export const GatewayRoute = {
  updates: '/updates',
  update: '/updates/{id}',
  download: '/updates/{id}/download',
  install: '/updates/{id}/install',
  status: '/updates/{id}/status',
  nodes: '/nodes',
  node: '/nodes/{id}',
  health: '/nodes/{id}/health',
  metrics: '/nodes/{id}/metrics',
  services: '/nodes/{id}/services',
  service: '/nodes/{id}/services/{name}',
  logs: '/nodes/{id}/logs',
  readiness: '/nodes/{id}/update-readiness',
  nodeConfig: '/nodes/{id}/system/config',
  nodeRestart: '/nodes/{id}/system/restart',
  nodeShutdown: '/nodes/{id}/system/shutdown',
  alerts: '/alerts',
  alert: '/alerts/{id}',
  config: '/system/config',
  restart: '/system/restart',
  shutdown: '/system/shutdown',
  audit: '/audit',
  revocations: '/certificates/revocations',
  bootstraps: '/certificates/bootstrap',
  /** EST simple enroll and re-enroll (RFC 9148 §4.1, the default /.well-known/est path). */
  estEnroll: '/.well-known/est/sen',
  estReenroll: '/.well-known/est/sren',
} as const;

export const AgentRoute = {
  health: '/health',
  metrics: '/metrics',
  services: '/services',
  service: '/services/{name}',
  logs: '/logs',
  readiness: '/update-readiness',
  config: '/system/config',
  restart: '/system/restart',
  shutdown: '/system/shutdown',
} as const;

const segment = (value: string): string => encodeURIComponent(value);

/** An agent path: the same segments the gateway forwards under /nodes/{id}. */
export const agentPath = {
  service: (name: string) => `/services/${segment(name)}`,
};

export const gatewayPath = {
  update: (id: string) => `/updates/${segment(id)}`,
  download: (id: string) => `/updates/${segment(id)}/download`,
  install: (id: string) => `/updates/${segment(id)}/install`,
  status: (id: string) => `/updates/${segment(id)}/status`,
  node: (id: string) => `/nodes/${segment(id)}`,
  health: (id: string) => `/nodes/${segment(id)}/health`,
  metrics: (id: string) => `/nodes/${segment(id)}/metrics`,
  services: (id: string) => `/nodes/${segment(id)}/services`,
  service: (id: string, name: string) => `/nodes/${segment(id)}/services/${segment(name)}`,
  logs: (id: string) => `/nodes/${segment(id)}/logs`,
  readiness: (id: string) => `/nodes/${segment(id)}/update-readiness`,
  nodeConfig: (id: string) => `/nodes/${segment(id)}/system/config`,
  nodeRestart: (id: string) => `/nodes/${segment(id)}/system/restart`,
  nodeShutdown: (id: string) => `/nodes/${segment(id)}/system/shutdown`,
  alert: (id: string) => `/alerts/${segment(id)}`,
};

/** Ids that are safe in a path segment, a file name and a log line. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const isValidId = (id: string): boolean => ID_PATTERN.test(id);
