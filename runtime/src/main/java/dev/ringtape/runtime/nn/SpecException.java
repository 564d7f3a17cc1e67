package dev.ringtape.runtime.nn;

/**
 * A model or job description that cannot be built. The message names the key path (e.g. {@code
 * model.layers.2.out}) and what was expected; callers that know the file add the file and line.
 */
public final class SpecException extends Exception {
    private final String path;

    public SpecException(String path, String problem) {
        super(path.isEmpty() ? problem : path + ": " + problem);
        this.path = path;
    }

    /** The key path of the offending value, e.g. {@code model.layers.2.out}. */
    public String path() {
        return path;
    }

    /** The problem without the path. */
    public String problem() {
        String m = getMessage();
        return path.isEmpty() ? m : m.substring(path.length() + 2);
    }

    /**
     * The closest of {@code candidates} to {@code given} by edit distance (a swap of neighbours counts as one edit;
     * ties go to the candidate of nearer length); failing that, one that contains {@code given} or is contained in
     * it (as {@code softmax_cross_entropy} contains {@code cross_entropy}); or null.
     */
    public static String closest(String given, Iterable<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        int bestLengthGap = Integer.MAX_VALUE;
        for (String c : candidates) {
            int d = distance(given, c);
            int gap = Math.abs(c.length() - given.length());
            if (d < bestDistance || (d == bestDistance && gap < bestLengthGap)) {
                bestDistance = d;
                bestLengthGap = gap;
                best = c;
            }
        }
        if (best != null && bestDistance <= Math.max(2, best.length() / 3)) {
            return best;
        }
        for (String c : candidates) {
            if ((given.length() >= 3 && c.contains(given)) || (c.length() >= 4 && given.contains(c))) {
                return c;
            }
        }
        return null;
    }

    /** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps. */
    private static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(d[i - 1][j - 1] + cost, Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1));
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
