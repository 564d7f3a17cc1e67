package dev.ringtape.scheduler.cli;

import java.io.PrintStream;

final class Train {
    private Train() {}

    static int run(String[] args, PrintStream out, PrintStream err) {
        err.println("not yet");
        return 2;
    }
}
