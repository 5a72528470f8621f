/* test_cpuisa.c - the ISA ladder's names, the probe, and pinning (ops/cpuisa.h).
 * One process: the probe runs before any other oneDNN call, then the pin. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base.h"
#include "cpuisa.h"

static void names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < CPUISA_LEVELS; i++)
        assert_int_equal(cpuisa_parse(cpuisa_name(i)), i);
    assert_int_equal(cpuisa_parse("avx2"), 2);
    assert_int_equal(cpuisa_parse("AVX3"), -1);
    assert_string_equal(cpuisa_name(CPUISA_LEVELS), "?");
    assert_string_equal(cpuisa_name(-1), "?");
}

/* The probe leaves oneDNN unfixed: pinning the level below the probed one
 * (or SSE41) still succeeds and is what oneDNN then runs; a second pin is
 * refused with a message. */
static void probe_then_pin(void **state)
{
    (void)state;
    int top = cpuisa_probe();
    assert_true(top >= 0 && top < CPUISA_LEVELS);
    assert_int_equal(cpuisa_probe(), top); /* cached */
    int want = top > 0 ? top - 1 : 0;
    assert_int_equal(cpuisa_pin(want), 0);
    assert_int_equal(cpuisa_effective(), want);
    assert_int_equal(cpuisa_pin(top), -1);
    assert_non_null(strstr(base_error(), "already in use"));
    assert_int_equal(cpuisa_effective(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(probe_then_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
