// `coap-fleet/testing`: what integrators need to test code built on the stack: a virtual
// clock, an in-memory network, a fault-injecting transport (loss, duplication, reordering,
// delay) and a seeded random source for deterministic tests; the ETSI plugtest server and
// the fault-injecting UDP proxy for tests against real processes and other stacks.

export { VirtualClock } from '../protocol/virtual-clock.js';
export { MemoryNetwork, MemoryTransport } from '../protocol/transport-memory.js';
export { FaultyTransport, type FaultOptions } from '../protocol/transport-faulty.js';
export { SeededRandom } from '../protocol/seeded-random.js';
export { silentLogger } from '../protocol/runtime.js';
export { addPlugtestResources, startPlugtestServer, type PlugtestServer, type PlugtestServerOptions } from './plugtest.js';
export { startFaultProxy, type FaultProxy, type FaultProxyOptions, type FaultProxyStats } from './fault-proxy.js';
