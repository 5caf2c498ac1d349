/* Runs inside a fresh LM_ID_NEWLM namespace, where (on a stock glibc) it gets its own copy
   of libc: that copy must be initialised well enough for the everyday calls below.  The
   results are reported through the return value and BUFFER, never by aborting, so the
   program in the base namespace can say which call misbehaved.  */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_BLOCKS 64

static void *
sum_in_thread (void *argument)
{
  const unsigned int *values = argument;
  uintptr_t sum = 0;
  for (int i = 0; i < 1000; ++i)
    sum += values[i];
  /* malloc from a second thread exercises this libc's per-thread arena setup.  */
  char *scratch = malloc (4096);
  if (scratch == NULL)
    return (void *) (uintptr_t) 0;
  memset (scratch, 0x5a, 4096);
  free (scratch);
  return (void *) sum;
}

/* 0 on success; otherwise a code naming the first failing step, with BUFFER describing it.  */
int
worker_run (char *buffer, size_t size)
{
  /* malloc: small and large (mmap-backed) blocks, written and read back.  */
  void *blocks[WORKER_BLOCKS];
  for (int i = 0; i < WORKER_BLOCKS; ++i)
    {
      size_t length = (size_t) 16 << (i % 17);
      blocks[i] = malloc (length);
      if (blocks[i] == NULL)
        {
          snprintf (buffer, size, "malloc (%zu) returned NULL", length);
          return 1;
        }
      memset (blocks[i], i, length);
    }
  for (int i = 0; i < WORKER_BLOCKS; ++i)
    {
      if (((unsigned char *) blocks[i])[0] != (unsigned char) i)
        {
          snprintf (buffer, size, "malloc block %d was overwritten", i);
          return 2;
        }
      free (blocks[i]);
    }

  /* stdio: printf to this namespace's own stdout (flushed: nothing in the base namespace
     flushes it at exit) and formatted output into a buffer.  */
  if (printf ("worker: printf works in the new namespace\n") <= 0 || fflush (stdout) != 0)
    {
      snprintf (buffer, size, "printf/fflush failed");
      return 3;
    }

  /* pthread_create/join.  */
  unsigned int *values = calloc (1000, sizeof *values);
  if (values == NULL)
    {
      snprintf (buffer, size, "calloc failed");
      return 4;
    }
  for (int i = 0; i < 1000; ++i)
    values[i] = (unsigned int) i;
  pthread_t thread;
  int error = pthread_create (&thread, NULL, sum_in_thread, values);
  if (error != 0)
    {
      snprintf (buffer, size, "pthread_create: %s", strerror (error));
      return 5;
    }
  void *result;
  error = pthread_join (thread, &result);
  free (values);
  if (error != 0)
    {
      snprintf (buffer, size, "pthread_join: %s", strerror (error));
      return 6;
    }

  int written = snprintf (buffer, size, "%s|%d|%.3f|%lu", "ns", -42, 2.5,
                          (unsigned long) (uintptr_t) result);
  if (written < 0 || (size_t) written >= size)
    return 7;
  return 0;
}
