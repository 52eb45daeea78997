/* fuzz_conf.c - fuzz target for the configuration parser (conf_parse): any text either gives
 * a configuration or an error that names the file and line ("fuzz.conf:N: ..."), never a
 * crash, a leak or an empty message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[1024] = "";
    struct conf *c;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    c = conf_parse(text, "fuzz.conf", err, sizeof(err));
    if (c)
        conf_free(c);
    else if (strncmp(err, "fuzz.conf", 9) != 0)
        abort();
    free(text);
    return 0;
}
