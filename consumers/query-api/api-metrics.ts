/** Counters of the query API and the models' positions, printed in Prometheus text format. */

export class ApiMetrics {
  readonly #requests = new Map<string, number>();
  #fenceWaits = 0;
  #fenceTimeouts = 0;

  request(route: string, status: number): void {
    const k = `route="${route}",status="${status}"`;
    this.#requests.set(k, (this.#requests.get(k) ?? 0) + 1);
  }

  fence(reached: boolean): void {
    this.#fenceWaits++;
    if (!reached) this.#fenceTimeouts++;
  }

  /** The exposition text, with each model's position (bytes of WAL, as a number). */
  render(positions: ReadonlyMap<string, bigint>): string {
    const out = [
      '# HELP sluice_query_api_requests_total Query API requests by route and status.',
      '# TYPE sluice_query_api_requests_total counter',
      ...[...this.#requests].map(([k, n]) => `sluice_query_api_requests_total{${k}} ${n}`),
      '# HELP sluice_query_api_fence_waits_total Requests with a read-your-writes fence.',
      '# TYPE sluice_query_api_fence_waits_total counter',
      `sluice_query_api_fence_waits_total ${this.#fenceWaits}`,
      '# HELP sluice_query_api_fence_timeouts_total Fences not reached within the timeout (504).',
      '# TYPE sluice_query_api_fence_timeouts_total counter',
      `sluice_query_api_fence_timeouts_total ${this.#fenceTimeouts}`,
      '# HELP sluice_read_model_position_lsn Source LSN each read model reflects (as a number).',
      '# TYPE sluice_read_model_position_lsn gauge',
      ...[...positions].map(([m, p]) => `sluice_read_model_position_lsn{model="${m}"} ${Number(p)}`),
    ];
    return out.join('\n') + '\n';
  }
}
