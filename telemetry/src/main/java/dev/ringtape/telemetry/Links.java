package dev.ringtape.telemetry;

/**
 * What the ring's link probe says about the hosts: which rank is on a slow link. A ring's all-reduce runs every link
 * at the pace of the slowest, so a slow link shows in the step as a slow all-reduce on every rank alike; only the
 * probe, which runs each link at its own rate, tells which. The probe measures the link into each rank (from the
 * previous one). A host whose link is slow both ways slows two of them: the link into its rank and the one into the
 * next rank. With two ranks those are both links of the ring, and nothing tells which host it is.
 */
public final class Links {
    private Links() {}

    /** A link under half the fastest's rate counts as slow. */
    public static final double SLOW = 0.5;

    /**
     * The straggler: {@code rank}'s link is slow both ways ({@code bothWays}, the links into it and into the next
     * rank are slow) or the link into {@code rank} is (from the previous rank); rates in bytes per second.
     */
    public record Straggler(int rank, boolean bothWays, double bytesPerSecond, double fastestBytesPerSecond) {}

    /**
     * The straggler named by {@code incoming} (bytes per second into each rank, index r: from rank r - 1), or null
     * when no link is slow, when all are, or when the slow ones are not the links of one host or one link.
     */
    public static Straggler straggler(double[] incoming) {
        int n = incoming.length;
        double fastest = 0;
        for (double v : incoming) {
            fastest = Math.max(fastest, v);
        }
        int slow = 0;
        int first = -1;
        for (int r = 0; r < n; r++) {
            if (incoming[r] < SLOW * fastest) {
                slow++;
                // the first of a run of slow links, going round the ring
                if (!(incoming[(r - 1 + n) % n] < SLOW * fastest)) {
                    first = r;
                }
            }
        }
        if (slow == 1) {
            return new Straggler(first, false, incoming[first], fastest);
        }
        if (slow == 2 && first >= 0 && incoming[(first + 1) % n] < SLOW * fastest && n > 2) {
            return new Straggler(first, true, Math.max(incoming[first], incoming[(first + 1) % n]), fastest);
        }
        return null;
    }
}
