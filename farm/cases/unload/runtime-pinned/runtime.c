/* A tracing runtime in the manner of lttng-ust's liblttng-ust.so: its constructor starts a
   detached thread that keeps executing the runtime's own code for the life of the process.
   An application that never linked the runtime gets it only as the dependency of a probe
   provider it dlopen()s, so dlclose() of the provider would unmap the runtime under the
   thread.  lttng-ust avoids that by pinning itself in its constructor: dlopen() of its own
   soname with RTLD_NOLOAD | RTLD_NODELETE.  Built with -DFARM_NO_PIN for the control case,
   which omits the pin.  */

#include <dlfcn.h>
#include <pthread.h>
#include <time.h>

#define RUNTIME_SONAME "libruntime.so"

/* 1: pinned; 0: the pin failed; -1: built without the pin.  Read by the application.  */
int runtime_pinned = -1;

static volatile unsigned long ticks;

__attribute__ ((noinline)) void
runtime_tick (void)
{
  ticks = ticks + 1;
}

unsigned long
runtime_ticks (void)
{
  return ticks;
}

/* The loop lives in the runtime's text: once that is unmapped, the thread faults as soon
   as nanosleep returns to it.  */
static void *
runtime_thread (void *unused)
{
  (void) unused;
  for (;;)
    {
      runtime_tick ();
      struct timespec pause = { 0, 1000000 };
      nanosleep (&pause, NULL);
    }
  return NULL;
}

__attribute__ ((constructor)) static void
runtime_init (void)
{
#ifndef FARM_NO_PIN
  runtime_pinned = dlopen (RUNTIME_SONAME, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
#endif
  pthread_attr_t attributes;
  pthread_t thread;
  pthread_attr_init (&attributes);
  pthread_attr_setdetachstate (&attributes, PTHREAD_CREATE_DETACHED);
  pthread_create (&thread, &attributes, runtime_thread, NULL);
  pthread_attr_destroy (&attributes);
}
