/* driver.c - runs a fuzz target without libFuzzer, so `make test` can fuzz briefly with
 * gcc and the sanitizers: every file given on the command line (a corpus), then random
 * and mutated inputs from a fixed seed, for FUZZ_ITERATIONS inputs (default 20000) or
 * FUZZ_SECONDS seconds, whichever ends first. `make fuzz` links the same targets with
 * clang's libFuzzer for long, coverage-guided runs instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT  8192
#define MAX_CORPUS 64

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Flip, insert or overwrite a few bytes of BUF (LEN bytes in, returned). */
static size_t mutate(uint8_t *buf, size_t len)
{
    int edits = 1 + (int)(next() % 8);

    for (int i = 0; i < edits; i++) {
        size_t at = len ? next() % len : 0;
        switch (next() % 4) {
        case 0:
            if (len)
                buf[at] ^= (uint8_t)(1u << (next() % 8));
            break;
        case 1:
            if (len < MAX_INPUT) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)next();
                len++;
            }
            break;
        case 2:
            if (len)
                buf[at] = (uint8_t)(next() % 2 ? 0xff : 0);
            break;
        default:
            if (len > 1)
                len -= 1 + next() % (len / 2 + 1) % len;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    static uint8_t corpus[MAX_CORPUS][MAX_INPUT], buf[MAX_INPUT];
    static size_t clen[MAX_CORPUS];
    long iterations = getenv("FUZZ_ITERATIONS") ? atol(getenv("FUZZ_ITERATIONS")) : 20000;
    double seconds = getenv("FUZZ_SECONDS") ? atof(getenv("FUZZ_SECONDS")) : 30;
    int ncorpus = 0;
    time_t start = time(NULL);
    long i;

    for (int a = 1; a < argc && ncorpus < MAX_CORPUS; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f)
            continue;
        clen[ncorpus] = fread(corpus[ncorpus], 1, MAX_INPUT, f);
        fclose(f);
        LLVMFuzzerTestOneInput(corpus[ncorpus], clen[ncorpus]);
        ncorpus++;
    }
    for (i = 0; i < iterations && difftime(time(NULL), start) < seconds; i++) {
        size_t len;
        if (ncorpus && next() % 4) {
            int k = (int)(next() % (uint64_t)ncorpus);
            memcpy(buf, corpus[k], clen[k]);
            len = mutate(buf, clen[k]);
        } else {
            len = (size_t)(next() % 512);
            for (size_t j = 0; j < len; j++)
                buf[j] = (uint8_t)next();
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%s: %ld inputs (%d from the corpus), no crash\n", argv[0], i + ncorpus, ncorpus);
    return 0;
}
