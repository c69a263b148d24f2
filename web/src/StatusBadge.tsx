export function StatusBadge({ status }: { status: string }) {
  return <span class={'badge status-' + status.toLowerCase()}>{status.charAt(0) + status.slice(1).toLowerCase()}</span>;
}
