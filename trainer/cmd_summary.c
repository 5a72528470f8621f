/* cmd_summary.c - `shardnet summary`: filled in with the LeNet model. */
#include <stdio.h>

#include "commands.h"

int cmd_summary(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("summary: not yet\n");
    return 1;
}
