package pipeline

// WorkerRate divides the vendor's request limit, which is per token and so
// per job, over the worker processes that can fetch at the same time, so
// that no autoscaling decision can make the job exceed it. It returns the
// rate (requests per second) and burst of each process's limiter.
//
// totalRPS and totalBurst are the job's limit (the vendor's 25 requests/s);
// maxWorkers is the job's worker cap (Dataflow's --max_num_workers; 1 for
// prism; 0 or less when unknown); windows is the number of windows the
// ingest fetches.
//
// Why these two numbers bound the fetching processes:
//   - Each process holds one limiter, shared by all its chains
//     (vendorapi.SharedLimiter), so the job's rate is the sum over the
//     processes that are fetching. A Go SDK worker runs one process.
//   - A window is one chain of sequential pages, and its restriction is
//     never split, so a chain lives in one process at a time: a process
//     that fetches holds at least one of the windows.
//
// So at most min(maxWorkers, windows) processes fetch at once, whatever
// the autoscaler and the chains per process (--concurrency) do, and giving
// each of them rate/that much keeps the sum at or under totalRPS. An hourly
// run (two windows) gets half the limit per process, not a tenth.
//
// The trade-off: the share of a process that holds no chain is wasted. When
// the runner packs the windows onto fewer processes than the divisor (up to
// --concurrency windows per process), the job runs below the limit, in the
// worst case at ceil(windows/concurrency) / min(maxWorkers, windows) of it.
// A lower --max-workers (or a higher --concurrency on bigger workers) wastes
// less; exceeding the limit is never the price. The adaptive slow-down on a
// 429 stays per process: it reacts to what the vendor says, so a worker
// retried on another machine while the first still ran costs 429s, not a
// breach of the contract.
//
// The burst is divided the same way, rounded down, and is at least 1: with
// totalBurst smaller than the divisor the processes together may send one
// request each in the same instant. Nonsense inputs (rate not above zero) are
// returned unchanged for Config.Validate to report.
func WorkerRate(totalRPS float64, totalBurst int, maxWorkers, windows int) (rps float64, burst int) {
	if totalRPS <= 0 {
		return totalRPS, totalBurst
	}
	n := windows
	if maxWorkers > 0 && (n <= 0 || maxWorkers < n) {
		n = maxWorkers
	}
	if n < 1 {
		n = 1
	}
	burst = totalBurst / n
	if burst < 1 {
		burst = 1
	}
	return totalRPS / float64(n), burst
}
