package dev.ringtape.allreduce;

import java.util.List;

/**
 * Who is in the ring: this rank, the world size, every rank's endpoint (for UDP, the {@code host:port} its
 * subscription bound; for IPC, ignored), and a random token for this job attempt. Every frame carries the token, so
 * frames of another job or of an earlier attempt are dropped. The scheduler fills it from the endpoints its driver gathers.
 */
public record Rendezvous(int rank, int worldSize, long token, List<String> endpoints) {
    public Rendezvous {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " of " + worldSize);
        }
        if (endpoints.size() != worldSize) {
            throw new IllegalArgumentException(
                    "need one endpoint per rank: " + endpoints.size() + " for " + worldSize + " ranks");
        }
        endpoints = List.copyOf(endpoints);
    }

    public int next() {
        return (rank + 1) % worldSize;
    }

    public int previous() {
        return (rank + worldSize - 1) % worldSize;
    }
}
