/* A plugin for a static program.  dlopen from a static executable loads it together with
   a second, shared copy of libc; the calls below make sure that copy works for ordinary
   things (malloc, snprintf) and that values cross the boundary intact.  */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int plugin_state = 40;

int
plugin_add (int left, int right)
{
  return left + right + (plugin_state - 40);
}

char *
plugin_describe (int value)
{
  char *text = malloc (64);
  if (text != NULL)
    snprintf (text, 64, "plugin sees %d (%s)", value, value % 2 == 0 ? "even" : "odd");
  return text;
}

void
plugin_release (char *text)
{
  free (text);
}
