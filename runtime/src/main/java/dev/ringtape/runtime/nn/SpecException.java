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

    /** The closest of {@code candidates} to {@code given} by edit distance, or null when none is close. */
    public static String closest(String given, Iterable<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String c : candidates) {
            int d = distance(given, c);
            if (d < bestDistance) {
                bestDistance = d;
                best = c;
            }
        }
        return best != null && bestDistance <= Math.max(2, best.length() / 3) ? best : null;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
