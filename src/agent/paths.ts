// The guest-side name of the agent's port (QEMU's virtserialport name=...).
export const AGENT_PORT_NAME = 'agent.channel.0';
