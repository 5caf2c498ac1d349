/* A probe provider: linked against the runtime (DT_NEEDED libruntime.so), which the
   application is not.  */

void runtime_tick (void);

int
provider_probe (void)
{
  runtime_tick ();
  return 1;
}
