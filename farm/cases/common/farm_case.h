/* The farm's C case protocol, shared by every case program.

   The protocol is glibc's own test protocol: exit status 0 is PASS, 1 is FAIL and 77 is
   UNSUPPORTED (the feature under test is absent from this glibc, kernel or container).
   A case program must not exit with anything else: the generated run script reserves the
   other statuses for build errors, timeouts and signals (see farm/cases/__init__.py).

   Linking farm_case.c into a program makes it print, before main runs,

     farm: glibc <gnu_get_libc_version ()>
     farm: loader <path of the dynamic loader really mapped, or "static">

   which is the evidence, in every log, that the case ran against the glibc under test and
   not against the image's own libc.  stdout is made line-buffered at the same time, so the
   lines a case prints before it crashes on purpose still reach the log.

   Shared objects built for a case may include this header for the macros, but must not
   call the farm_* functions: only programs link farm_case.c.  */

#ifndef FARM_CASE_H
#define FARM_CASE_H

#include <stddef.h>

#define FARM_EXIT_PASS 0
#define FARM_EXIT_FAIL 1
#define FARM_EXIT_UNSUPPORTED 77

/* Print "FAIL: file:line: message" and exit 1.  */
#define FARM_FAIL(...) farm_fail_at (__FILE__, __LINE__, __VA_ARGS__)

/* Print "UNSUPPORTED: file:line: reason" and exit 77.  */
#define FARM_UNSUPPORTED(reason) farm_unsupported_at (__FILE__, __LINE__, "%s", (reason))

/* FAIL unless COND holds; the message repeats the condition's text.  */
#define FARM_CHECK(cond)                                                      \
  do                                                                          \
    if (!(cond))                                                              \
      FARM_FAIL ("check failed: %s", #cond);                                  \
  while (0)

/* Print "PASS" and exit 0.  */
#define FARM_PASS() farm_pass ()

/* Print "farm: note <message>": a fact worth seeing in the log that is not a verdict.  */
#define FARM_NOTE(...) farm_note (__VA_ARGS__)

__attribute__ ((noreturn, format (printf, 3, 4)))
void farm_fail_at (const char *file, int line, const char *fmt, ...);

__attribute__ ((noreturn, format (printf, 3, 4)))
void farm_unsupported_at (const char *file, int line, const char *fmt, ...);

__attribute__ ((noreturn)) void farm_pass (void);

__attribute__ ((format (printf, 1, 2))) void farm_note (const char *fmt, ...);

/* The absolute path of NAME in the directory of the running executable.  Cases dlopen
   their objects by absolute path so that no search path (and no system library directory)
   can substitute a different file.  Exits with FAIL if the path cannot be determined.  */
const char *farm_path (const char *name);

/* Look TAG up in the dynamic section of the ELF file at PATH, as the linker wrote it.
   Returns 1 and stores the entry's value in *VALUE if present, 0 if absent; FAILs if the
   file cannot be read or is not an ELF object of the program's own class.  Reading the
   file, not the loaded object, keeps this usable for objects that are never loaded.  */
int farm_file_dynamic_entry (const char *path, long tag, unsigned long *value);

/* Sleep for MILLISECONDS, resuming after signals.  */
void farm_sleep_ms (long milliseconds);

#endif /* FARM_CASE_H */
