/* product_commands — see product_commands.h. */
#include "product_commands.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int product_commands_host_ok(const char *host)
{
    if (!host)
        return 0;
    size_t n = strlen(host);
    if (n == 0 || n > PRODUCT_COMMANDS_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                  c == '-' || c == '_' || c == ':';
        if (!ok)
            return 0;
    }
    return 1;
}

int product_commands(const struct products_sku *s, const char *host, uint16_t port,
                     struct product_command out[PRODUCT_COMMANDS_MAX])
{
    if (!s || port == 0 || !product_commands_host_ok(host))
        return KMS_EINVAL;
    if (!s->gvlk)
        return 0;
    const char *folder = s->kms->office_folder;
    bool v6 = strchr(host, ':') != NULL;
    if (!folder) {
        out[0].step = "install the key";
        snprintf(out[0].text, sizeof out[0].text, "slmgr /ipk %s", s->gvlk);
        out[1].step = "set the KMS host";
        snprintf(out[1].text, sizeof out[1].text, "slmgr /skms %s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
                 (unsigned)port);
        out[2].step = "activate";
        snprintf(out[2].text, sizeof out[2].text, "slmgr /ato");
        return 3;
    }
    static const char *const steps[] = {"install the key", "set the KMS host", "set the port", "activate"};
    char arg[PRODUCT_COMMANDS_HOST_MAX + 16];
    for (int i = 0; i < 4; i++) {
        if (i == 0)
            snprintf(arg, sizeof arg, "/inpkey:%s", s->gvlk);
        else if (i == 1)
            snprintf(arg, sizeof arg, "/sethst:%s", host);
        else if (i == 2)
            snprintf(arg, sizeof arg, "/setprt:%u", (unsigned)port);
        else
            snprintf(arg, sizeof arg, "/act");
        out[i].step = steps[i];
        snprintf(out[i].text, sizeof out[i].text, "cscript \"%%ProgramFiles%%\\Microsoft Office\\%s\\OSPP.VBS\" %s",
                 folder, arg);
    }
    return 4;
}

const char *product_commands_note(const struct products_sku *s)
{
    if (!s || !s->kms->office_folder)
        return NULL;
    return "32-bit Office on 64-bit Windows: %ProgramFiles(x86)% instead of %ProgramFiles%";
}
